//! [`SchemaStore`]: finds interface definitions through the ament index and caches them.
//!
//! Lookup follows ament: prefixes are searched in order (overlays first) and the first prefix
//! whose `share/ament_index/resource_index/packages/<pkg>` exists owns the package, shadowing
//! the package in later prefixes. In that prefix, the `rosidl_interfaces/<pkg>` index decides
//! which files exist when present; without it, `share/<pkg>/{msg,srv,action}/` is probed
//! directly. `.msg`/`.srv`/`.action` win over `.idl`, as in foxglove_bridge.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use super::idl;
use super::msg::{parse_msg, split_sections};
use super::names::{InterfaceKind, TypeName};
use super::text::{resolve, Loaded, SourceFormat};
use super::{ResolvedSchema, SchemaError};

/// The parts a `.srv` file is split into.
const SRV_PARTS: [&str; 2] = ["_Request", "_Response"];
/// The parts an `.action` file is split into.
const ACTION_PARTS: [&str; 3] = ["_Goal", "_Result", "_Feedback"];

/// Interface definitions from ament prefixes, parsed once and shared.
///
/// All methods take `&self`; share the store behind an `Arc`.
#[derive(Debug, Default)]
pub struct SchemaStore {
    prefixes: RwLock<Vec<PathBuf>>,
    /// Every definition loaded so far, by normalised name (service and action parts included).
    loaded: RwLock<HashMap<String, Arc<Loaded>>>,
    /// Resolved roots, by normalised name.
    resolved: RwLock<HashMap<String, Arc<ResolvedSchema>>>,
    /// Names known to be absent, so a graph full of unknown types does not hit the disk on every
    /// poll. Cleared when prefixes are added.
    missing: RwLock<HashSet<String>>,
}

/// The three parts of an action.
#[derive(Debug, Clone)]
pub struct ActionSchemas {
    /// `pkg/action/Name_Goal`.
    pub goal: Arc<ResolvedSchema>,
    /// `pkg/action/Name_Result`.
    pub result: Arc<ResolvedSchema>,
    /// `pkg/action/Name_Feedback`.
    pub feedback: Arc<ResolvedSchema>,
}

impl SchemaStore {
    /// A store over these prefixes, searched in order (first match wins).
    pub fn new(prefixes: Vec<PathBuf>) -> Self {
        SchemaStore {
            prefixes: RwLock::new(prefixes),
            ..Default::default()
        }
    }

    /// A store over `AMENT_PREFIX_PATH` (left to right; empty entries skipped).
    pub fn from_env() -> Self {
        let paths = std::env::var_os("AMENT_PREFIX_PATH")
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Self::new(paths)
    }

    /// Append prefixes after the existing ones (lowest precedence), e.g. the repository's
    /// `interfaces/` directory as a fallback when ROS is not installed.
    pub fn add_prefixes(&self, extra: impl IntoIterator<Item = PathBuf>) {
        self.prefixes.write().extend(extra);
        // Appended prefixes can only supply packages that were not found before.
        self.missing.write().clear();
    }

    /// The prefixes searched, in order.
    pub fn prefixes(&self) -> Vec<PathBuf> {
        self.prefixes.read().clone()
    }

    /// A message type (`pkg/msg/Type` or `pkg/Type`; also service and action parts such as
    /// `pkg/srv/Type_Request`) with all its dependencies.
    pub fn message(&self, type_name: &str) -> Result<Arc<ResolvedSchema>, SchemaError> {
        let name = TypeName::parse(type_name)?.full();
        if let Some(r) = self.resolved.read().get(&name) {
            return Ok(r.clone());
        }
        let root = self.load(&name)?;
        let resolved = Arc::new(resolve(&root, &mut |dep| self.load(dep))?);
        Ok(self
            .resolved
            .write()
            .entry(name)
            .or_insert(resolved)
            .clone())
    }

    /// Make `schema` the definition of its type, ahead of anything on the prefixes (playback:
    /// the definitions a recording carries are the ones its messages were written with).
    pub fn insert_resolved(&self, schema: Arc<ResolvedSchema>) {
        self.resolved.write().insert(schema.name.clone(), schema);
    }

    /// A service type `pkg/srv/Type`: its request and response.
    pub fn service(
        &self,
        type_name: &str,
    ) -> Result<(Arc<ResolvedSchema>, Arc<ResolvedSchema>), SchemaError> {
        let t = TypeName::parse(type_name)?;
        if t.kind != InterfaceKind::Srv {
            return Err(SchemaError::InvalidTypeName(type_name.to_string()));
        }
        let full = t.full();
        Ok((
            self.message(&format!("{full}_Request"))?,
            self.message(&format!("{full}_Response"))?,
        ))
    }

    /// An action type `pkg/action/Type`: its goal, result and feedback.
    pub fn action(&self, type_name: &str) -> Result<ActionSchemas, SchemaError> {
        let t = TypeName::parse(type_name)?;
        if t.kind != InterfaceKind::Action {
            return Err(SchemaError::InvalidTypeName(type_name.to_string()));
        }
        let full = t.full();
        Ok(ActionSchemas {
            goal: self.message(&format!("{full}_Goal"))?,
            result: self.message(&format!("{full}_Result"))?,
            feedback: self.message(&format!("{full}_Feedback"))?,
        })
    }

    /// Every interface the prefixes provide, as `pkg/msg/Type`, `pkg/srv/Type` and
    /// `pkg/action/Type`, sorted. Shadowed packages are skipped, as in lookup.
    pub fn interface_names(&self) -> Vec<String> {
        let mut seen_packages = HashSet::new();
        let mut names = BTreeSet::new();
        for prefix in self.prefixes() {
            let Ok(entries) = std::fs::read_dir(packages_dir(&prefix)) else {
                continue;
            };
            let mut packages: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            packages.sort();
            for pkg in packages {
                if !seen_packages.insert(pkg.clone()) {
                    continue;
                }
                for rel in package_files(&prefix, &pkg) {
                    if let Some(name) = interface_name_of(&pkg, &rel) {
                        names.insert(name);
                    }
                }
            }
        }
        names.into_iter().collect()
    }

    /// Load a definition by normalised name, from the cache or from disk.
    fn load(&self, name: &str) -> Result<Arc<Loaded>, SchemaError> {
        if let Some(l) = self.loaded.read().get(name) {
            return Ok(l.clone());
        }
        if self.missing.read().contains(name) {
            return Err(self.not_found(name));
        }
        let t = TypeName::parse(name)?;
        let (stem, parts): (&str, &[&str]) = match t.kind {
            InterfaceKind::Msg => (t.name.as_str(), &[""]),
            InterfaceKind::Srv => (strip_part(&t.name, &SRV_PARTS), &SRV_PARTS),
            InterfaceKind::Action => (strip_part(&t.name, &ACTION_PARTS), &ACTION_PARTS),
        };
        if stem == t.name && t.kind != InterfaceKind::Msg {
            // `pkg/srv/Type` itself is not a message; its parts are.
            return Err(SchemaError::InvalidTypeName(name.to_string()));
        }
        let Some((path, format)) = self.find_file(&t.package, t.kind, stem) else {
            self.missing.write().insert(name.to_string());
            return Err(self.not_found(name));
        };
        let text = std::fs::read_to_string(&path).map_err(|source| SchemaError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let base = format!("{}/{}/{stem}", t.package, t.kind.dir());
        let items = match format {
            SourceFormat::Msg => load_sections(&base, &t.package, &text, parts)?,
            SourceFormat::Idl => idl::parse_idl(&path.display().to_string(), &text)?,
        };
        let mut cache = self.loaded.write();
        for item in items {
            cache
                .entry(item.def.name.clone())
                .or_insert_with(|| Arc::new(item));
        }
        match cache.get(name) {
            Some(l) => Ok(l.clone()),
            None => {
                drop(cache);
                self.missing.write().insert(name.to_string());
                Err(self.not_found(name))
            }
        }
    }

    /// Find `share/<pkg>/<kind>/<stem>.<ext>` in the first prefix that has the package.
    fn find_file(
        &self,
        pkg: &str,
        kind: InterfaceKind,
        stem: &str,
    ) -> Option<(PathBuf, SourceFormat)> {
        let prefix = self
            .prefixes
            .read()
            .iter()
            .find(|p| packages_dir(p).join(pkg).is_file())?
            .clone();
        let listed = read_interface_index(&prefix, pkg);
        let dir = kind.dir();
        let candidates = [
            (format!("{dir}/{stem}.{dir}"), SourceFormat::Msg),
            (format!("{dir}/{stem}.idl"), SourceFormat::Idl),
        ];
        candidates.into_iter().find_map(|(rel, format)| {
            let path = prefix.join("share").join(pkg).join(&rel);
            let present = match &listed {
                Some(list) => list.contains(&rel) && path.is_file(),
                None => path.is_file(),
            };
            present.then_some((path, format))
        })
    }

    fn not_found(&self, name: &str) -> SchemaError {
        let searched = self
            .prefixes
            .read()
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        SchemaError::NotFound {
            name: name.to_string(),
            searched: if searched.is_empty() {
                "no prefixes".to_string()
            } else {
                searched
            },
        }
    }
}

/// Parse a `.msg` (one part, suffix `""`), `.srv` or `.action` text into its parts.
pub(crate) fn load_sections(
    base: &str,
    package: &str,
    text: &str,
    parts: &[&str],
) -> Result<Vec<Loaded>, SchemaError> {
    let sections = split_sections(text, parts.len()).ok_or_else(|| SchemaError::Parse {
        name: base.to_string(),
        line: 0,
        message: format!("expected {} section(s) separated by ---", parts.len()),
    })?;
    sections
        .into_iter()
        .zip(parts)
        .map(|((first_line, section), suffix)| {
            let name = format!("{base}{suffix}");
            let parsed = parse_msg(&name, package, &section, first_line)?;
            Ok(Loaded {
                def: Arc::new(parsed.def),
                deps: parsed.deps,
                text: section,
                format: SourceFormat::Msg,
            })
        })
        .collect()
}

fn strip_part<'a>(name: &'a str, parts: &[&str]) -> &'a str {
    parts
        .iter()
        .find_map(|p| name.strip_suffix(p).filter(|s| !s.is_empty()))
        .unwrap_or(name)
}

fn packages_dir(prefix: &Path) -> PathBuf {
    prefix.join("share/ament_index/resource_index/packages")
}

/// The `rosidl_interfaces` index of a package: relative paths such as `msg/Header.msg`.
fn read_interface_index(prefix: &Path, pkg: &str) -> Option<HashSet<String>> {
    let path = prefix
        .join("share/ament_index/resource_index/rosidl_interfaces")
        .join(pkg);
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

/// The interface files of a package (relative to `share/<pkg>`), from the index or the disk.
fn package_files(prefix: &Path, pkg: &str) -> Vec<String> {
    if let Some(list) = read_interface_index(prefix, pkg) {
        return list.into_iter().collect();
    }
    let mut out = Vec::new();
    for dir in ["msg", "srv", "action"] {
        let Ok(entries) = std::fs::read_dir(prefix.join("share").join(pkg).join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(file) = e.file_name().into_string() {
                out.push(format!("{dir}/{file}"));
            }
        }
    }
    out
}

/// `msg/Header.msg` in `std_msgs` → `std_msgs/msg/Header`; anything else → `None`.
fn interface_name_of(pkg: &str, rel: &str) -> Option<String> {
    let (dir, file) = rel.split_once('/')?;
    let (stem, ext) = file.rsplit_once('.')?;
    let kind_ok = matches!(
        (dir, ext),
        ("msg", "msg" | "idl") | ("srv", "srv" | "idl") | ("action", "action" | "idl")
    );
    // Old installs also list generated `srv/X_Request.msg`; the pattern above skips those parts.
    kind_ok.then(|| format!("{pkg}/{dir}/{stem}"))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
