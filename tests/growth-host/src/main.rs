//! A host built against a changed copy of `hookgate-plugin-api` (see README.md): loads
//! the plugin library given as the first argument, initialises it with the fake
//! registry (which lends this copy's host module), and sends it a request at
//! BeforeLocation. Prints the outcome; exit 1 when the library or its init refuses.

use std::process::ExitCode;

use abi_stable::library::lib_header_from_path;
use hookgate_plugin_api::abi::PluginModRef;
use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: hookgate-growth-host PLUGIN_LIBRARY");
        return ExitCode::from(2);
    };
    let loaded = lib_header_from_path(path.as_ref())
        .and_then(|header| header.init_root_module::<PluginModRef>());
    let module = match loaded {
        Ok(module) => module,
        Err(e) => {
            eprintln!("refused: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("loaded {}", module.manifest().name);
    let plugin = match TestPlugin::init_extern(module.init(), "") {
        Ok(plugin) => plugin,
        Err(e) => {
            eprintln!("init failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = plugin.before_location(&mut FakeRequest::get("/hello"));
    println!("before_location: {outcome:?}");
    ExitCode::SUCCESS
}
