//! Canonical paths: the form in which two spellings of the same place
//! compare equal. `expand` and `fold` are pure; `canonical` is the one
//! function that looks at the filesystem (symlinks, the current directory).

use std::path::{Component, Path, PathBuf};

/// `~` and `~/...` expanded with `home`; a relative path joined to `base`.
/// (`~user` is not expanded: openclaw does not either.)
pub fn expand(path: &Path, base: &Path, home: &Path) -> PathBuf {
    let mut components = path.components();
    match components.next() {
        Some(Component::Normal(first)) if first == "~" => home.join(components.as_path()),
        _ if path.is_absolute() => path.to_path_buf(),
        _ => base.join(path),
    }
}

/// `.` dropped and `..` folded into its parent, without looking at the
/// filesystem (`/` stays `/` under `..`).
pub fn fold(path: &Path) -> PathBuf {
    let mut folded = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !folded.pop() && !path.is_absolute() {
                    folded.push("..");
                }
                if folded.as_os_str().is_empty() && path.is_absolute() {
                    folded.push("/");
                }
            }
            other => folded.push(other),
        }
    }
    folded
}

/// The canonical form of `path`: absolute (against the current directory),
/// symlinks resolved through the longest prefix that exists, and the rest
/// folded. A path that does not exist yet still gets a stable form, so a
/// state dir to be created compares equal to another spelling of it.
pub fn canonical(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(current) => current.join(path),
            Err(_) => path.to_path_buf(),
        }
    };
    let (resolved, folded_parent) = resolve_existing_prefix(&absolute);
    if folded_parent {
        // Folding a `..` in the part that does not exist may have produced a
        // path whose prefix does exist (`missing/../link`): resolve again. The
        // second pass has no `..` left, so it cannot fold anything further.
        return resolve_existing_prefix(&resolved).0;
    }
    resolved
}

/// Symlinks resolved through the longest existing prefix of `absolute`, the
/// rest appended and folded; and whether the rest held a `..`.
fn resolve_existing_prefix(absolute: &Path) -> (PathBuf, bool) {
    // Walk up until a prefix resolves; `canonicalize` follows `..` the way
    // the kernel does for the part that exists.
    let mut prefix = absolute;
    let mut rest: Vec<PathBuf> = Vec::new();
    loop {
        if let Ok(resolved) = std::fs::canonicalize(prefix) {
            let folded_parent = rest.iter().any(|component| component == Path::new(".."));
            let mut result = resolved;
            for component in rest.iter().rev() {
                result.push(component);
            }
            return (fold(&result), folded_parent);
        }
        match (prefix.parent(), prefix.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(PathBuf::from(name));
                prefix = parent;
            }
            (Some(parent), None) => {
                // A trailing `..`: keep it for `fold`.
                rest.push(PathBuf::from(".."));
                prefix = parent;
            }
            (None, _) => return (fold(absolute), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_and_fold_are_lexical() {
        let home = Path::new("/home/u");
        let base = Path::new("/etc/sup");
        let rows: &[(&str, &str)] = &[
            ("~", "/home/u"),
            ("~/.openclaw", "/home/u/.openclaw"),
            ("~user/x", "/etc/sup/~user/x"),
            ("/abs/./x/../y", "/abs/y"),
            ("state", "/etc/sup/state"),
            ("../state", "/etc/state"),
            ("/../../x", "/x"),
            ("./a/b/..", "/etc/sup/a"),
        ];
        for (written, expected) in rows {
            assert_eq!(
                fold(&expand(Path::new(written), base, home)),
                PathBuf::from(expected),
                "{written}"
            );
        }
    }

    #[test]
    fn canonical_resolves_symlinks_in_the_existing_prefix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
        std::fs::create_dir(root.join("real")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).expect("symlink");
        let rows: &[(PathBuf, PathBuf)] = &[
            (root.join("link"), root.join("real")),
            (root.join("link/not-yet/x"), root.join("real/not-yet/x")),
            (root.join("real/../link/state"), root.join("real/state")),
            (root.join("missing/../link"), root.join("real")),
            (root.join("link/.."), root.clone()),
        ];
        for (written, expected) in rows {
            assert_eq!(&canonical(written), expected, "{}", written.display());
        }
    }
}
