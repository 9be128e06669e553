//! The command line (DESIGN §4): run, `check`, `inspect`, `import-bfe`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigError, Overrides};
use crate::plugin::{CacheError, Generations, Library, LoadError, PluginCache, Plugins};

/// hookgate: a reverse proxy extended by native plugins at BFE's nine callback points.
#[derive(Debug, Parser)]
#[command(name = "hookgate", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load the config and every plugin, print each callback point's chain, and exit
    /// 0 (all good) or 1 (like `nginx -t`).
    Check(RunArgs),
    /// Print a plugin's manifest without running its init.
    Inspect {
        /// The plugin library.
        file: PathBuf,
    },
    /// Convert a BFE configuration directory into a hookgate config and plugin configs;
    /// exit 0 (all converted), 2 (something reported as not converted exactly, see
    /// OUT_DIR/import-report.txt) or 1 (unreadable input).
    ImportBfe(ImportArgs),
}

/// `import-bfe`'s arguments.
#[derive(Debug, Args)]
struct ImportArgs {
    /// BFE's configuration directory: the one holding bfe.conf, server_data_conf/,
    /// cluster_conf/ and the mod_*/ directories.
    #[arg(value_name = "BFE_CONF_DIR")]
    conf_dir: PathBuf,
    /// Where hookgate.toml, plugins/*.toml and import-report.txt are written.
    #[arg(value_name = "OUT_DIR")]
    out_dir: PathBuf,
    /// The directory of the plugin libraries (libhookgate_plugin_*.so); by default,
    /// this hookgate binary's directory (where `cargo build` puts both).
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
}

/// The flags shared by running and `check`.
#[derive(Debug, Args, Clone)]
struct RunArgs {
    /// TOML config file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Plain listener address (replaces the config's `server.listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Backend address for the default cluster (without --config).
    #[arg(long, value_name = "ADDR")]
    backend: Vec<SocketAddr>,
    /// Plugin library, with an optional config file: PATH[=CONFIG_FILE]. Runs after
    /// the config file's plugins, in the order given.
    #[arg(long, value_name = "PATH[=CONFIG_FILE]")]
    plugin: Vec<String>,
    /// Admin listener address.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Worker threads (0 = one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
}

/// Why a command failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad plugin.
    #[error(transparent)]
    Plugin(#[from] LoadError),
    /// The plugin cache directory is unusable.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The server failed to start or run (boxed: rare, and large).
    #[error(transparent)]
    Serve(Box<crate::run::ServeError>),
    /// The async runtime cannot start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    /// `import-bfe`: BFE input that cannot be read.
    #[error("import-bfe: {0}")]
    Import(#[from] hookgate_import_bfe::InputError),
    /// `import-bfe`: the output cannot be written.
    #[error("import-bfe: cannot write {dir}: {source}")]
    ImportWrite {
        /// The output directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        let plugins = self
            .plugin
            .iter()
            .map(|spec| match spec.split_once('=') {
                Some((path, config)) => (PathBuf::from(path), Some(PathBuf::from(config))),
                None => (PathBuf::from(spec), None),
            })
            .collect();
        Overrides {
            listen: self.listen.clone(),
            backends: self.backend.clone(),
            plugins,
            admin: self.admin,
            workers: self.workers,
        }
    }

    /// Config and plugins, loaded in the order start-up needs them (before any socket),
    /// each entry's code at the generation `generations` (what ran before) plans.
    fn load(&self, generations: &Arc<Generations>) -> Result<(Config, Plugins), CliError> {
        let config = Config::load(self.config.as_deref(), &self.overrides())?;
        let cache_dir = config
            .server
            .plugin_cache_dir
            .clone()
            .unwrap_or_else(crate::plugin::cache::default_dir);
        let cache = PluginCache::open(&cache_dir)?;
        let plugins = Plugins::reload(&config.plugins, &cache, generations)?;
        Ok((config, plugins))
    }
}

impl Cli {
    /// Runs the command; errors are printed as one line on stderr.
    pub fn run(self) -> ExitCode {
        let result = match self.command {
            Some(Command::Check(args)) => check(&args).map(|()| ExitCode::SUCCESS),
            Some(Command::Inspect { file }) => inspect(&file).map(|()| ExitCode::SUCCESS),
            Some(Command::ImportBfe(args)) => import_bfe(&args),
            None => serve(&self.run).map(|()| ExitCode::SUCCESS),
        };
        match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("hookgate: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

fn check(args: &RunArgs) -> Result<(), CliError> {
    let (config, plugins) = args.load(&Arc::default())?;
    // Like `nginx -t`: certificates and keys too, not only the config's shape.
    for listener in &config.server.tls {
        crate::tls::server_config(listener).map_err(|source| {
            CliError::Serve(Box::new(crate::run::ServeError::Tls {
                addr: listener.listen,
                source,
            }))
        })?;
    }
    // A backend name that does not resolve here is not an error (it may resolve where
    // the proxy runs, and the proxy starts without it), but worth a line.
    for (name, name_use) in crate::resolve::task::names_in(&config) {
        use std::net::ToSocketAddrs;
        if let Err(error) = name.to_string().to_socket_addrs() {
            println!(
                "warning: {}: `{name}` does not resolve here: {error}",
                name_use.keys.join(", ")
            );
        }
    }
    print!("{}", plugins.describe());
    // A dry run of a reload: what the running proxy would do with each entry.
    print!("{}", crate::reload_plan::report(&config, &plugins));
    println!("configuration ok");
    Ok(())
}

/// Exit code 2: the import wrote a config, but reported items it could not convert
/// exactly.
const IMPORT_INEXACT: u8 = 2;

fn import_bfe(args: &ImportArgs) -> Result<ExitCode, CliError> {
    let import = hookgate_import_bfe::import(&args.conf_dir)?;
    let plugin_dir = match &args.plugin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_owned))
            .unwrap_or_default(),
    };
    let target = hookgate_import_bfe::Target {
        out_dir: args.out_dir.clone(),
        plugin_dir,
    };
    let config =
        hookgate_import_bfe::write(&import, &target).map_err(|source| CliError::ImportWrite {
            dir: args.out_dir.clone(),
            source,
        })?;
    println!("{}", import.report);
    println!("wrote {}", config.display());
    println!(
        "check it with: hookgate check --config {}",
        config.display()
    );
    Ok(if import.report.is_exact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(IMPORT_INEXACT)
    })
}

fn inspect(file: &Path) -> Result<(), CliError> {
    let cache = PluginCache::open(&crate::plugin::cache::default_dir())?;
    let library = Library::open(file, &cache, None)?;
    println!("file:        {}", file.display());
    println!("sha256:      {}", library.sha256);
    println!("{}", library.manifest());
    Ok(())
}

fn serve(args: &RunArgs) -> Result<(), CliError> {
    // Everything that can fail at start-up fails here, before any socket is bound.
    let generations = Arc::new(Generations::default());
    let (config, plugins) = args.load(&generations)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.server.workers > 0 {
        runtime.worker_threads(config.server.workers);
    }
    let runtime = runtime.enable_all().build().map_err(CliError::Runtime)?;
    let reload_args = args.clone();
    let reloader: crate::server::Reloader =
        Arc::new(move || reload_args.load(&generations).map_err(|e| e.to_string()));
    runtime
        .block_on(crate::run::run(&config, plugins, Some(reloader)))
        .map_err(|e| CliError::Serve(Box::new(e)))?;
    Ok(())
}
