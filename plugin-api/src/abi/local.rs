//! [`LocalAny`]: a plugin instance's typed state, owned by the host between calls.
//!
//! The value is made and dropped by the plugin's own code (the erased object's vtable
//! holds the plugin's destructor), and it can be taken back only as the type it was
//! made with, by the library that made it: abi_stable's downcast compares the
//! destructor, which differs per type and per library.

use abi_stable::erased_types::DynTrait;
use abi_stable::std_types::RBox;
use abi_stable::StableAbi;

/// What a [`LocalAny`] can do besides being dropped: move to another thread (a request
/// moves between the proxy's worker threads).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(impl_InterfaceType(Send))]
pub struct LocalInterface;

/// A plugin instance's state for one request or one connection, type-erased.
pub type LocalAny = DynTrait<'static, RBox<()>, LocalInterface>;

/// Where a host keeps the [`LocalAny`] values of one request or one connection, by
/// plugin instance. A handful of instances use it per request: a linear scan over a
/// vector that allocates only on first use.
#[derive(Default)]
pub struct Locals(Vec<(u32, LocalAny)>);

impl Locals {
    /// Instance `instance`'s value, if set.
    pub fn get(&mut self, instance: u32) -> Option<&mut LocalAny> {
        (self.0.iter_mut())
            .find(|(owner, _)| *owner == instance)
            .map(|(_, value)| value)
    }

    /// Sets instance `instance`'s value, dropping the previous one.
    pub fn set(&mut self, instance: u32, value: LocalAny) {
        match self.get(instance) {
            Some(slot) => *slot = value,
            None => self.0.push((instance, value)),
        }
    }
}

impl std::fmt::Debug for Locals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let owners: Vec<u32> = self.0.iter().map(|(owner, _)| *owner).collect();
        f.debug_tuple("Locals").field(&owners).finish()
    }
}
