module example.com/gosymsprog

go 1.15
