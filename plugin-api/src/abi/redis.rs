//! Redis commands as they cross the boundary (appended in 0.2.3, through
//! [`HostMod::redis`](super::HostMod::redis)): what a handler or tick asks a store of
//! the proxy's config to run ([`RedisSpecAbi`]). The reply comes back among the
//! callouts' results, a [`CalloutResultAbi`](super::CalloutResultAbi) whose body holds
//! it in [`resp`](crate::RedisValue::to_resp)'s encoding.

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

/// One Redis command or script. See [`RedisCommand`](crate::RedisCommand).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct RedisSpecAbi {
    /// The store: a `[redis.NAME]` of the proxy's config.
    pub store: RString,
    /// A Lua script (run by EVALSHA, EVAL when the server does not have it); empty for
    /// a plain command.
    pub script: RString,
    /// For a script: how many of `args` are keys (the first ones).
    pub keys: u32,
    /// A plain command's name and arguments; a script's keys, then its arguments.
    pub args: RVec<RVec<u8>>,
    /// Milliseconds for the command; 0: the store's limit.
    pub timeout_ms: u64,
}
