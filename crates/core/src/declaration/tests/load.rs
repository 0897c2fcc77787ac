//! Loading a directory: which files are declarations, broken files kept apart, and the name a running instance keeps.

use super::*;

#[test]
fn only_yaml_files_that_are_not_editor_leftovers_are_declarations() {
    let rows: &[(&str, bool)] = &[
        ("main.yaml", true),
        ("main.yml", true),
        ("dir/main.YAML", true),
        ("main.json", false),
        ("main", false),
        (".main.yaml", false),
        (".main.yaml.swp", false),
        ("main.yaml.swp", false),
        ("main.yaml~", false),
        ("#main.yaml#", false),
        (".#main.yaml", false),
        ("main.yaml.bak", false),
        ("main.yaml.dpkg-old", false),
        (".yaml", false),
    ];
    for (file, expected) in rows {
        assert_eq!(is_declaration_file(Path::new(file)), *expected, "{file}");
    }
}

#[test]
fn load_dir_keeps_good_files_and_reports_each_broken_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).expect("write declaration");
    };
    write(
        "rescue.yaml",
        "role: rescue\nrescue_of: main\nport: 19789\n",
    );
    write("main.yaml", "port: 18789\n");
    write("broken.yaml", "port: [\n");
    write("twin-a.yaml", "name: twin\n");
    write("twin-b.yml", "name: TWIN\n");
    write(".hidden.yaml", "bogus: 1\n");
    write("main.yaml~", "bogus: 1\n");
    write("notes.txt", "bogus: 1\n");
    std::fs::create_dir(dir.path().join("sub.yaml")).expect("subdir");

    let scan = load_dir(dir.path()).expect("dir is readable");
    let names: Vec<&str> = scan
        .declarations
        .iter()
        .map(|loaded| loaded.name.as_str())
        .collect();
    assert_eq!(names, ["main", "rescue"]);
    assert_eq!(scan.declarations[0].file, dir.path().join("main.yaml"));
    assert_eq!(scan.errors.len(), 2, "{:?}", scan.errors);
    assert_eq!(scan.errors[0].file(), dir.path().join("broken.yaml"));
    let twin = &scan.errors[1];
    assert!(
        matches!(twin, DeclarationError::DuplicateName { name, .. } if name == "twin"),
        "{twin:?}"
    );
    let message = twin.to_string();
    assert!(
        message.contains("twin-a.yaml") && message.contains("twin-b.yml"),
        "{message}"
    );
}

#[test]
fn load_dir_of_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let err = load_dir(&missing).expect_err("missing dir");
    assert!(matches!(err, DeclarationError::ReadDir { .. }), "{err:?}");
    assert!(err.to_string().contains("--dir"), "{err}");
}

#[test]
fn load_dir_reports_a_file_that_is_not_utf8() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bin.yaml"), [0xff, 0xfe, 0x00]).expect("write");
    let scan = load_dir(dir.path()).expect("dir is readable");
    assert!(scan.declarations.is_empty());
    assert_eq!(scan.errors.len(), 1);
    assert!(
        scan.errors[0].to_string().contains("not UTF-8"),
        "{}",
        scan.errors[0]
    );
}

#[test]
fn a_running_instance_keeps_its_name_against_a_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good1 = dir.path().join("good1.yaml");
    let copy = dir.path().join("copy.yaml");
    std::fs::write(&good1, "port: 18789\n").expect("write");
    std::fs::write(&copy, "name: good1\nport: 18789\n").expect("write");

    // Nothing runs (check, start): neither file may have the name.
    let scan = load_dir(dir.path()).expect("readable");
    assert!(scan.declarations.is_empty(), "{:?}", scan.declarations);
    assert_eq!(scan.errors.len(), 1, "{:?}", scan.errors);
    assert_eq!(scan.errors[0].instance(), Some("good1"));

    // good1 runs from good1.yaml: the copy alone is refused.
    let running = BTreeMap::from([("good1".to_string(), good1.clone())]);
    let scan = load_dir_keeping(dir.path(), &running).expect("readable");
    let kept: Vec<&Path> = scan.declarations.iter().map(|d| d.file.as_path()).collect();
    assert_eq!(kept, [good1.as_path()]);
    assert_eq!(scan.errors.len(), 1, "{:?}", scan.errors);
    let error = &scan.errors[0];
    assert_eq!(error.file(), copy);
    assert_eq!(error.instance(), None, "the kept instance is not frozen");
    let message = error.to_string();
    assert!(
        message.contains("already declared by") && message.contains("good1.yaml"),
        "{message}"
    );

    // The file it ran from is gone: neither of the others is preferred.
    let running = BTreeMap::from([("good1".to_string(), dir.path().join("old.yaml"))]);
    let scan = load_dir_keeping(dir.path(), &running).expect("readable");
    assert!(scan.declarations.is_empty());
    assert_eq!(scan.errors[0].instance(), Some("good1"));
}

#[test]
fn the_file_a_name_runs_from_keeps_it() {
    let (a, b) = (Path::new("/sup/a.yaml"), Path::new("/sup/b.yaml"));
    let rows: &[(Option<&Path>, Option<usize>)] = &[
        (None, None),
        (Some(a), Some(0)),
        (Some(b), Some(1)),
        (Some(Path::new("/sup/c.yaml")), None),
    ];
    for (running_from, expected) in rows {
        assert_eq!(
            keeper(&[a, b], *running_from),
            *expected,
            "{running_from:?}"
        );
    }
}
