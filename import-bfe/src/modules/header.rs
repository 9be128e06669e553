//! Not converted yet.

use super::Module;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let file = module.conf_file().to_owned();
    module.report.skipped(&file, "", "not converted yet");
    Ok(None)
}
