//! Parsing one declaration file and loading a directory of them.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::Declaration;
use super::keys::KeyIndex;
use super::messages::{self, quoted};
use super::validate::{self, Invalid, is_valid_name};
use crate::probe::EffectiveProbes;

/// The largest declaration file accepted. Real ones are a few hundred bytes;
/// the cap keeps a stray huge file from being read into memory at all.
pub const MAX_DECLARATION_BYTES: usize = 256 * 1024;

/// A parsed and validated declaration, with the name it goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedDeclaration {
    /// The instance name: `name:` if set, else the file stem; always lowercase.
    pub name: String,
    /// The file it was read from, as given (joined to the directory by `load_dir`).
    pub file: PathBuf,
    pub declaration: Declaration,
    /// Its probes as they will run, worked out once by validation (the
    /// defaults for a declaration without a `probes:` block).
    pub probes: EffectiveProbes,
}

/// Everything a declarations directory holds: the good declarations and, kept
/// apart, one error per file that could not be used.
#[derive(Debug, Default)]
pub struct DirScan {
    /// Sorted by instance name.
    pub declarations: Vec<LoadedDeclaration>,
    /// Sorted by file.
    pub errors: Vec<DeclarationError>,
}

/// Why a declaration file (or the directory) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DeclarationError {
    #[error("cannot read the declarations directory {}: {source} (create it or pass --dir)", dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: the file is larger than the {limit} bytes a declaration may have", file.display())]
    TooLarge { file: PathBuf, limit: usize },
    /// A YAML error or a broken rule, at a place in the file when it is known.
    #[error("{}", display_invalid(file, *line, *column, key.as_deref(), message))]
    Invalid {
        file: PathBuf,
        line: Option<u64>,
        column: Option<u64>,
        /// The dotted key path, e.g. `probes.liveness.every`.
        key: Option<String>,
        message: String,
    },
    #[error(
        "instance `{name}` is declared twice, by {} and by {}: rename one file or change its `name:`",
        first.display(),
        second.display()
    )]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// A second file declaring an instance that runs from another file: the
    /// running one keeps it, this file is the one refused.
    #[error(
        "{}: instance `{name}` is already declared by {}, which runs it: give this file a `name:` of its own{}",
        file.display(),
        kept.display(),
        if *named_by_stem { " (its name comes from the file name: rename the file)" } else { "" }
    )]
    AlreadyDeclared {
        name: String,
        kept: PathBuf,
        file: PathBuf,
        named_by_stem: bool,
    },
}

fn display_invalid(
    file: &Path,
    line: Option<u64>,
    column: Option<u64>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut text = file.display().to_string();
    if let Some(line) = line {
        text.push_str(&format!(":{line}"));
        if let Some(column) = column {
            text.push_str(&format!(":{column}"));
        }
    }
    text.push_str(": ");
    if let Some(key) = key {
        text.push_str(&format!("`{key}`: "));
    }
    text.push_str(message);
    text
}

impl DeclarationError {
    /// The file the error is about (the directory for `ReadDir`, the first
    /// file for `DuplicateName`).
    pub fn file(&self) -> &Path {
        match self {
            DeclarationError::ReadDir { dir, .. } => dir,
            DeclarationError::Read { file, .. }
            | DeclarationError::TooLarge { file, .. }
            | DeclarationError::Invalid { file, .. }
            | DeclarationError::AlreadyDeclared { file, .. } => file,
            DeclarationError::DuplicateName { first, .. } => first,
        }
    }

    /// The instance a duplicate declares: neither file may run it, and an
    /// instance already running under that name keeps what it runs. None for
    /// every other error (and for [`DeclarationError::AlreadyDeclared`],
    /// whose instance runs from the file that was kept).
    pub fn instance(&self) -> Option<&str> {
        match self {
            DeclarationError::DuplicateName { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Every file the error is about.
    pub fn files(&self) -> Vec<&Path> {
        match self {
            DeclarationError::DuplicateName { first, second, .. } => vec![first, second],
            other => vec![other.file()],
        }
    }
}

/// Parse options: the budgets are far tighter than the library's defaults,
/// because a declaration is a few dozen keys. An alias bomb, a document
/// storm or deep nesting is refused while it is being read.
fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::options! {
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_events: 20_000,
            max_aliases: 100,
            max_anchors: 100,
            max_nodes: 10_000,
            max_depth: 16,
            max_documents: 1,
            max_total_scalar_bytes: MAX_DECLARATION_BYTES,
            max_merge_keys: 100,
        },
    };
    options.alias_limits.max_total_replayed_events = 10_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.alias_limits.max_alias_expansions_per_anchor = 100;
    options
}

/// Parse and validate the declaration `text` read from `file`.
///
/// Pure: `file` is used only to name the instance (its stem) and in errors.
pub fn parse(file: &Path, text: &str) -> Result<LoadedDeclaration, DeclarationError> {
    if text.len() > MAX_DECLARATION_BYTES {
        return Err(DeclarationError::TooLarge {
            file: file.to_path_buf(),
            limit: MAX_DECLARATION_BYTES,
        });
    }
    let mut declaration: Declaration = serde_saphyr::from_str_with_options(text, yaml_options())
        .map_err(|err| yaml_error(file, text, &err))?;
    let name = instance_name(file, &declaration).map_err(|invalid| locate(file, text, invalid))?;
    let probes = validate::declaration(&mut declaration, &name)
        .map_err(|invalid| locate(file, text, invalid))?;
    Ok(LoadedDeclaration {
        name,
        file: file.to_path_buf(),
        declaration,
        probes,
    })
}

/// `name:` if set, else the file stem, lowercased: names are
/// case-insensitive (as openclaw profile names are), so `Main.yaml` and
/// `main.yaml` declare the same instance.
fn instance_name(file: &Path, declaration: &Declaration) -> Result<String, Invalid> {
    let rule = "use 1 to 64 letters, digits, `_` or `-`, starting with a letter or digit";
    if let Some(name) = &declaration.name {
        if !is_valid_name(name) {
            return Err(Invalid {
                key: "name".to_string(),
                message: format!("{} is not a valid instance name: {rule}", quoted(name)),
            });
        }
        return Ok(name.to_ascii_lowercase());
    }
    let stem = file
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    if !is_valid_name(stem) {
        return Err(Invalid {
            key: "name".to_string(),
            message: format!(
                "the file name {} is not a valid instance name ({rule}): rename the file or set `name:`",
                quoted(stem)
            ),
        });
    }
    Ok(stem.to_ascii_lowercase())
}

/// Place a validation error at its key, when the key is written in the file.
fn locate(file: &Path, text: &str, invalid: Invalid) -> DeclarationError {
    let position = KeyIndex::build(text).position_of(&invalid.key);
    DeclarationError::Invalid {
        file: file.to_path_buf(),
        line: position.map(|(line, _)| line),
        column: position.map(|(_, column)| column),
        key: Some(invalid.key),
        message: invalid.message,
    }
}

fn yaml_error(file: &Path, text: &str, err: &serde_saphyr::Error) -> DeclarationError {
    let mut location = err
        .location()
        .filter(|location| location.line() > 0)
        .map(|location| (location.line(), location.column()));
    let mut message = err.to_string();
    if let Some((line, column)) = location {
        // The library appends the position; we print it in front instead.
        let suffix = format!(" at line {line}, column {column}");
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
    }
    // A flow bracket left open: the fault is where it opens, not lines later
    // where the parser stumbles on the next key.
    let stumbled = message.contains("flow") || message.contains("indicator");
    if let Some((line, column)) = location
        && stumbled
        && let Some((open_line, open_column, bracket)) = messages::unclosed_flow(text, line)
    {
        let close = if bracket == '[' { ']' } else { '}' };
        message = format!(
            "this `{bracket}` is never closed: end it with `{close}` (the parser stumbled at line {line}, column {column}: {message})"
        );
        location = Some((open_line, open_column));
    }
    let key = location.and_then(|(line, column)| {
        KeyIndex::build(text)
            .key_at(line, column)
            .map(str::to_string)
    });
    let written = location.and_then(|(line, column)| scalar_at(text, line, column));
    if let Some(words) = messages::yaml_words(err, key.as_deref(), written) {
        message = words;
    }
    DeclarationError::Invalid {
        file: file.to_path_buf(),
        line: location.map(|(line, _)| line),
        column: location.map(|(_, column)| column),
        key,
        message,
    }
}

/// The plain scalar written at `line`:`column` (1-based), up to a comment.
fn scalar_at(text: &str, line: u64, column: u64) -> Option<&str> {
    let line = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let rest = line.get(usize::try_from(column).ok()?.checked_sub(1)?..)?;
    let value = rest.split(" #").next().unwrap_or(rest).trim();
    (!value.is_empty()).then_some(value)
}

/// Whether `path` names a declaration: `*.yaml` or `*.yml`, and not a
/// dotfile or an editor's swap or backup file (`.x.swp`, `x~`, `#x#`, `.#x`).
pub fn is_declaration_file(path: &Path) -> bool {
    let Some(file_name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    if file_name.starts_with('.') || file_name.starts_with('#') || file_name.ends_with('~') {
        return false;
    }
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            extension.eq_ignore_ascii_case("yaml") || extension.eq_ignore_ascii_case("yml")
        })
}

/// Read `file`, refusing more than [`MAX_DECLARATION_BYTES`] without
/// reading the rest.
fn read_declaration(file: &Path) -> Result<String, DeclarationError> {
    let read_error = |source| DeclarationError::Read {
        file: file.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    fs::File::open(file)
        .and_then(|handle| {
            handle
                .take(MAX_DECLARATION_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(read_error)?;
    if bytes.len() > MAX_DECLARATION_BYTES {
        return Err(DeclarationError::TooLarge {
            file: file.to_path_buf(),
            limit: MAX_DECLARATION_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|_| {
        read_error(io::Error::new(
            io::ErrorKind::InvalidData,
            "the file is not UTF-8 text",
        ))
    })
}

/// Load every declaration file in `dir` (not its subdirectories).
///
/// Only a missing or unreadable directory is an `Err`; a file that cannot be
/// read, parsed or validated is reported in [`DirScan::errors`] and left out,
/// and so are both files when two declare the same instance name.
pub fn load_dir(dir: &Path) -> Result<DirScan, DeclarationError> {
    load_dir_keeping(dir, &BTreeMap::new())
}

/// [`load_dir`], where `running` maps each running instance to the file it
/// runs from: when two files declare a running instance's name, the file it
/// runs from keeps it and only the newcomer is refused (what runs keeps
/// running).
pub fn load_dir_keeping(
    dir: &Path,
    running: &BTreeMap<String, PathBuf>,
) -> Result<DirScan, DeclarationError> {
    let read_dir_error = |source| DeclarationError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_dir_error)? {
        let path = entry.map_err(read_dir_error)?.path();
        if !is_declaration_file(&path) {
            continue;
        }
        // Follow symlinks: a declaration may be linked in from elsewhere.
        match fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => files.push(path),
            Ok(_) => {}
            Err(source) => errors.push(DeclarationError::Read { file: path, source }),
        }
    }
    files.sort();

    let mut by_name: BTreeMap<String, Vec<LoadedDeclaration>> = BTreeMap::new();
    for file in files {
        match read_declaration(&file).and_then(|text| parse(&file, &text)) {
            Ok(loaded) => by_name.entry(loaded.name.clone()).or_default().push(loaded),
            Err(err) => errors.push(err),
        }
    }
    let mut declarations = Vec::new();
    for (name, mut loaded) in by_name {
        if loaded.len() == 1 {
            declarations.extend(loaded.pop());
            continue;
        }
        let files: Vec<&Path> = loaded.iter().map(|l| l.file.as_path()).collect();
        if let Some(index) = keeper(&files, running.get(&name).map(PathBuf::as_path)) {
            let kept = loaded.swap_remove(index);
            for other in loaded {
                let named_by_stem = other.declaration.name.is_none();
                errors.push(DeclarationError::AlreadyDeclared {
                    name: name.clone(),
                    kept: kept.file.clone(),
                    file: other.file,
                    named_by_stem,
                });
            }
            declarations.push(kept);
            continue;
        }
        // Neither file wins: which one the operator meant is not ours to guess.
        for other in &loaded[1..] {
            errors.push(DeclarationError::DuplicateName {
                name: name.clone(),
                first: loaded[0].file.clone(),
                second: other.file.clone(),
            });
        }
    }
    declarations.sort_by(|a, b| a.name.cmp(&b.name));
    errors.sort_by(|a, b| a.file().cmp(b.file()));
    Ok(DirScan {
        declarations,
        errors,
    })
}

/// Of the `files` that declare one instance, the index of the one that keeps
/// it: the file the instance runs from (`running_from`), when it is one of
/// them; else none does.
pub fn keeper(files: &[&Path], running_from: Option<&Path>) -> Option<usize> {
    let running_from = running_from?;
    files.iter().position(|file| *file == running_from)
}
