use crate::policy::Registration;

use super::*;

const T0: UnixMs = 1_000_000;

fn policy() -> Policy {
    Policy {
        allow: vec!["10.0.0.0/8".parse().unwrap()],
        tokens: Vec::new(),
        min_ttl: Duration::from_secs(1),
        max_ttl: Duration::from_secs(3600),
        max_instances: 100,
    }
}

fn registered(instances: &[(&str, &str, u64)]) -> RegistryState {
    let mut state = RegistryState::default();
    for (i, (service, address, ttl_secs)) in instances.iter().enumerate() {
        let mut metadata = BTreeMap::new();
        metadata.insert("zone".to_owned(), format!("z{i}"));
        let registration = Registration {
            service: (*service).to_owned(),
            address: address.parse().unwrap(),
            metadata,
            ttl: Duration::from_secs(*ttl_secs),
            owner: Some(format!("owner{i}")),
        };
        state
            .register(registration, T0, 100, || format!("lease-{i}"))
            .unwrap();
    }
    state
}

#[test]
fn state_survives_a_round_trip_through_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let file = StateFile::new(directory.path().join("registry.json"));
    let state = registered(&[("users", "10.0.0.1:80", 10), ("orders", "10.0.0.2:81", 20)]);
    file.write(1, &StoredInstance::all(&state)).unwrap();
    assert_eq!(file.written(), 1);

    let loaded = file.load(&policy(), T0).unwrap();
    assert_eq!(loaded.list("", T0), state.list("", T0));
    assert_eq!(
        StoredInstance::all(&loaded),
        StoredInstance::all(&state),
        "owners and TTLs too"
    );
    assert!(!directory.path().join("registry.json.tmp").exists());
}

#[test]
fn ended_leases_and_disallowed_addresses_are_dropped_on_load() {
    let directory = tempfile::tempdir().unwrap();
    let file = StateFile::new(directory.path().join("registry.json"));
    let state = registered(&[
        ("users", "10.0.0.1:80", 10),
        ("users", "10.0.0.2:80", 60),
        ("users", "192.0.2.1:80", 60),
    ]);
    file.write(1, &StoredInstance::all(&state)).unwrap();

    let loaded = file.load(&policy(), T0 + 10_000).unwrap();
    let addresses: Vec<SocketAddr> = loaded
        .list("", T0 + 10_000)
        .iter()
        .map(|i| i.address)
        .collect();
    assert_eq!(addresses, ["10.0.0.2:80".parse::<SocketAddr>().unwrap()]);
}

#[test]
fn missing_file_is_an_empty_registry() {
    let directory = tempfile::tempdir().unwrap();
    let file = StateFile::new(directory.path().join("absent.json"));
    assert_eq!(file.load(&policy(), T0).unwrap().list("", T0), Vec::new());
}

#[test]
fn missing_directory_is_reported_at_load() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("absent").join("registry.json");
    let error = StateFile::new(path.clone())
        .load(&policy(), T0)
        .unwrap_err();
    assert!(error.starts_with(&format!(
        "registry state file {}: directory ",
        path.display()
    )));
    assert!(error.ends_with("does not exist"), "{error}");
}

#[test]
fn corrupt_file_is_reported_with_its_name() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("registry.json");
    fs::write(&path, "{\"format\": 1, \"instances\": [").unwrap();
    let error = StateFile::new(path.clone())
        .load(&policy(), T0)
        .unwrap_err();
    let expected = format!(
        "registry state file {}: not a registry state: ",
        path.display()
    );
    assert!(error.starts_with(&expected), "{error}");
    assert!(error.contains("line 1"), "says where: {error}");

    fs::write(&path, "{\"format\": 2, \"instances\": []}").unwrap();
    let error = StateFile::new(path).load(&policy(), T0).unwrap_err();
    assert!(
        error.ends_with("format 2 is not the format 1 this build reads"),
        "{error}"
    );
}

#[test]
fn unreadable_file_is_reported_with_its_name() {
    let directory = tempfile::tempdir().unwrap();
    // A directory where the file should be cannot be read as one.
    let error = StateFile::new(directory.path().to_owned())
        .load(&policy(), T0)
        .unwrap_err();
    let expected = format!(
        "registry state file {}: cannot read it: ",
        directory.path().display()
    );
    assert!(error.starts_with(&expected), "{error}");
}

#[test]
fn older_versions_never_overwrite_newer_ones() {
    let directory = tempfile::tempdir().unwrap();
    let file = StateFile::new(directory.path().join("registry.json"));
    let newer = registered(&[("users", "10.0.0.1:80", 10)]);
    file.write(2, &StoredInstance::all(&newer)).unwrap();
    file.write(1, &[]).unwrap();
    assert_eq!(file.load(&policy(), T0).unwrap().list("", T0).len(), 1);
}
