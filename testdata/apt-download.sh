# Sourced by the testdata scripts: Debian packages fetched with apt-get download under a private
# apt configuration (its own sources, lists, caches and empty dpkg status under the gosyms cache),
# so that nothing about the system's apt state or installed packages changes. Needs $cache.
#
#   apt_private SUITE ARCH   sets APT_OPTS for SUITE's main component on ARCH and updates its lists
#   apt_debs SUITE ARCH DEST PKG...   downloads the .debs of PKG... (no dependencies) into DEST

# The configuration lives in $cache/apt-SUITE (amd64) or $cache/apt-SUITE-ARCH.
apt_private() {
  local suite=$1 arch=$2
  local conf=$cache/apt-$suite
  [[ $arch == amd64 ]] || conf+=-$arch
  mkdir -p "$conf"/{lists/partial,archives/partial,etc/preferences.d,etc/apt.conf.d}
  : > "$conf/status"
  local mirror=${GOSYMS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  echo "deb [arch=$arch] $mirror $suite main" > "$conf/etc/sources.list"
  APT_OPTS=(-o "Dir::State=$conf" -o "Dir::State::Lists=$conf/lists" -o "Dir::State::status=$conf/status"
            -o "Dir::Cache=$conf" -o "Dir::Etc::SourceList=$conf/etc/sources.list"
            -o "Dir::Etc::SourceParts=$conf/none" -o "Dir::Etc::Preferences=$conf/none"
            -o "Dir::Etc::PreferencesParts=$conf/etc/preferences.d" -o "Dir::Etc::Parts=$conf/etc/apt.conf.d"
            -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" -o "Acquire::Languages=none"
            -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
            -o "APT::Sandbox::User=root")
  apt-get "${APT_OPTS[@]}" update -qq >&2
}

apt_debs() {
  local suite=$1 arch=$2 dest=$3; shift 3
  apt_private "$suite" "$arch"
  (cd "$dest" && apt-get "${APT_OPTS[@]}" download "$@" >&2)
}
