//! [`Manifest`]: what a plugin says about itself, read without running its init.

use std::fmt;

use hookgate_plugin_api::abi::ManifestAbi;
use hookgate_plugin_api::PointSet;

/// A plugin's manifest, copied out of its library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// The hookgate-plugin-api version it was built against.
    pub api_version: String,
    /// The points it may register handlers at.
    pub points: PointSet,
}

impl From<&ManifestAbi> for Manifest {
    fn from(m: &ManifestAbi) -> Self {
        Manifest {
            name: m.name.as_str().to_owned(),
            version: m.version.as_str().to_owned(),
            description: m.description.as_str().to_owned(),
            api_version: m.api_version.as_str().to_owned(),
            points: m.points,
        }
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let points: Vec<&str> = self.points.iter().map(|p| p.name()).collect();
        writeln!(f, "name:        {}", self.name)?;
        writeln!(f, "version:     {}", self.version)?;
        writeln!(f, "description: {}", self.description)?;
        writeln!(f, "api version: {}", self.api_version)?;
        write!(f, "points:      {}", points.join(", "))
    }
}
