//! `mod_logid` → the `request-id` plugin, under BFE's header name `X-Bfe-Log-Id`.
//!
//! BFE has no data file for it. It keeps a client's own id when `mod_trust_clientip`
//! trusts the client; that module is not imported, so the plugin's `trusted` list is
//! left empty and every client's id is replaced (reported as a note).

use super::Module;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let mut config = toml::Table::new();
    config.insert("header".into(), "x-bfe-log-id".into());
    module.report.note(
        "bfe.conf",
        "mod_logid",
        "ids are set in X-Bfe-Log-Id as BFE does; a client's own id is kept only from \
         the request-id plugin's `trusted` addresses, left empty because \
         mod_trust_clientip is not imported (BFE keeps ids from the clients it trusts)",
    );
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, Dir};

    #[test]
    fn keeps_bfe_header_and_notes_trust() {
        let dir = Dir::new(&[]);
        let (config, report) = dir.convert("mod_logid").unwrap();
        let config = config.unwrap();
        assert_eq!(config["header"].as_str(), Some("x-bfe-log-id"));
        assert!(reported(&report, "mod_trust_clientip"));
        assert!(report.is_exact());
    }
}
