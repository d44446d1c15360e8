//! Dynamic types: one [`TypeRecipe`] per type descriptor of the binary, which the eBPF program
//! runs on an interface value's data word once it has seen the value's type, and the plan to
//! decode what it read.
//!
//! An interface holds a value of a pointer-shaped type (`abi.Type` with `DirectIface`: pointers,
//! maps, channels, funcs, and structs or arrays of one such word) in its data word itself;
//! any other value sits behind the data word, which is then a pointer to it.

use crate::reads::{Limits, MapLayouts, Owner, Planner, ReadPlan, MAX_POINTEE};
use foldhash::HashMap;
use pclntab::typedesc::TypeDetail;
use probe_common::{TypeRecipe, Word, MAX_TYPE_DEREFS, MAX_TYPE_DYN, WORD_CONST, WORD_DYN_DATA};
use resolver::described::DescribedTypes;
use resolver::types::GoType;

/// How maps of type `t` store their entries: from the descriptor of the map type of that name.
pub fn map_layout(
    descs: &pclntab::typedesc::TypeDescs<'_, '_>,
    t: &GoType,
) -> Option<pclntab::typedesc::MapLayout> {
    descs
        .by_name(&t.to_string())
        .into_iter()
        .find_map(|a| match descs.get(a).ok()?.detail {
            TypeDetail::Map { layout, .. } => Some(layout),
            _ => None,
        })
}

/// Recipes made for at most this many types (the eBPF map's size): first the concrete types of
/// the binary's itabs, which are what its non-empty interfaces (errors above all) hold, then
/// the other types in address order, which the linker groups by package; the rest are shown by
/// name.
pub const MAX_TYPES: usize = 16_384;

/// The order in which types get recipes while there is room: the itabs' concrete types (once
/// each, in address order), then the others of `all` in their order.
fn recipe_order<A: Ord + Copy>(all: Vec<A>, itab_types: impl Iterator<Item = A>) -> Vec<A> {
    let mut first: Vec<A> = itab_types.collect();
    first.sort_unstable();
    first.dedup();
    let rest: Vec<A> = all
        .into_iter()
        .filter(|a| first.binary_search(a).is_err())
        .collect();
    first.extend(rest);
    first
}

/// A dynamic type: its name, its Go type, and how its value was read.
#[derive(Debug, Clone)]
pub struct DynType {
    /// `reflect.Type.String`.
    pub name: String,
    /// Its Go type.
    pub ty: GoType,
    /// The value is the data word itself.
    pub direct: bool,
    /// The reads of the recipe (numbered from the recipe's first).
    pub reads: ReadPlan,
    /// The recipe, as the program gets it.
    pub recipe: TypeRecipe,
}

/// The dynamic types of one binary, by the link-time address of their descriptors.
#[derive(Debug, Default)]
pub struct DynTypes {
    /// Types with a recipe.
    pub types: HashMap<u64, DynType>,
    /// Names of the types without one (too many, or not buildable), looked up when seen.
    pub names: HashMap<u64, String>,
}

impl DynTypes {
    /// Recipes for the types of `described`, with `limits`.
    pub fn build(
        described: &DescribedTypes<'_, '_>,
        limits: Limits,
        maps: &MapLayouts<'_>,
    ) -> Self {
        let descs = described.descs();
        let mut out = DynTypes::default();
        let no_top = |_: usize, _: u64| -> Option<Word> { None };
        let itabs = descs.itabs().unwrap_or_default();
        let itab_types = itabs.iter().map(|i| i.typ);
        for addr in recipe_order(descs.all().unwrap_or_default(), itab_types) {
            let Ok(d) = descs.get(addr) else {
                continue;
            };
            // Interfaces never are an interface's dynamic type; func types hold code.
            if matches!(d.detail, TypeDetail::Interface { .. }) {
                continue;
            }
            if out.types.len() >= MAX_TYPES {
                out.names.insert(addr.0, d.name.to_string());
                continue;
            }
            let Ok(ty) = described.go_type(addr) else {
                out.names.insert(addr.0, d.name.to_string());
                continue;
            };
            let mut planner = Planner::new(MAX_TYPE_DEREFS, MAX_TYPE_DYN, limits, &no_top, maps);
            if d.direct_iface {
                planner.walk(&ty, Owner::DynData, 0, 0);
            } else {
                let size = d.size.min(MAX_POINTEE);
                if size > 0 {
                    planner.plan.reads.push(probe_common::Deref {
                        addr: Word {
                            kind: WORD_DYN_DATA,
                            ..Word::NONE
                        },
                        len: Word {
                            kind: WORD_CONST,
                            value: 1,
                            ..Word::NONE
                        },
                        addr_add: 0,
                        elem_size: size as u32,
                        max_bytes: size as u32,
                        pad: 0,
                    });
                    planner.plan.at.insert((Owner::DynData, 0), 0);
                    planner.walk(&ty, Owner::Read(0), 0, 1);
                }
            }
            let reads = planner.plan;
            let mut recipe = TypeRecipe::empty();
            recipe.nderefs = reads.reads.len() as u8;
            for (slot, r) in recipe.derefs.iter_mut().zip(&reads.reads) {
                *slot = *r;
            }
            recipe.ndyn = reads.dyns.len() as u8;
            for (slot, r) in recipe.dyn_slots.iter_mut().zip(&reads.dyns) {
                *slot = *r;
            }
            out.types.insert(
                addr.0,
                DynType {
                    name: d.name.to_string(),
                    ty,
                    direct: d.direct_iface,
                    reads,
                    recipe,
                },
            );
        }
        out
    }

    /// The name of the type at link-time address `addr`.
    pub fn name(&self, addr: u64) -> Option<&str> {
        self.types
            .get(&addr)
            .map(|t| t.name.as_str())
            .or_else(|| self.names.get(&addr).map(String::as_str))
    }

    /// The recipes, keyed by type address, for the program's map.
    pub fn recipes(&self) -> impl Iterator<Item = (u64, &TypeRecipe)> {
        self.types.iter().map(|(a, t)| (*a, &t.recipe))
    }
}

#[cfg(test)]
mod tests {
    use super::recipe_order;

    #[test]
    fn itab_types_come_first_once_each() {
        // 40 is an itab's type twice; 99 is an itab's type the type links do not list.
        let order = recipe_order(vec![10, 20, 30, 40, 50], [40, 99, 40, 20].into_iter());
        assert_eq!(order, vec![20, 40, 99, 10, 30, 50]);
    }
}
