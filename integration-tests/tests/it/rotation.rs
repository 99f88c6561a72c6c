//! `berth admin rotate-master-key`: new key, every secret re-sealed, old key retired, while a
//! running process keeps sealing and opening secrets without a restart.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use eventstore::Store;
use integration_tests::app;
use ops::keyfile::FileKeySource;

#[tokio::test]
async fn rotating_the_master_key_reseals_every_secret_and_running_processes_keep_working() {
    // A control-plane database of its own: the shared platform's processes hold a fixed key.
    let name = format!("rotate{}", uuid::Uuid::new_v4().simple());
    let control = &app().platform.control;
    control.create_database_if_missing(&name).await.expect("database");
    let url = control.url(&name);
    let dir = ops::local::testing::scratch_dir("keys").expect("dir");
    let key_file = dir.join("master.key");
    let ring = ops::keyfile::load_or_create(&key_file).expect("key file");
    let old_key = ring.active.clone();
    let running = Store::connect(&url, 4).expect("url").with_key_source(ring, Arc::new(FileKeySource::new(&key_file)));
    running.migrate().await.expect("migrates");
    for i in 0..1200 {
        running.put_secret(&format!("test:{i}"), format!("secret number {i}").as_bytes()).await.expect("seals");
    }
    assert_eq!(running.secrets_by_key().await.expect("count"), vec![(old_key.clone(), 1200)]);

    // Meanwhile the "running process" keeps writing secrets.
    let writer = {
        let running = running.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                running.put_secret(&format!("during:{i}"), b"written during the rotation").await.expect("seals");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let rotation = ops::rotate::rotate_master_key(&key_file, &url, Duration::from_millis(500)).await.expect("rotates");
    writer.await.expect("writer");
    assert_ne!(rotation.new_key, old_key);
    assert_eq!(rotation.retired, vec![old_key.clone()]);
    assert!(rotation.resealed >= 1200, "{rotation:?}");

    let file: eventstore::vault::Keyring =
        toml::from_str(&std::fs::read_to_string(&key_file).expect("read")).expect("parses");
    assert_eq!(file.keys.keys().cloned().collect::<Vec<_>>(), vec![rotation.new_key.clone()], "old key retired");
    assert_eq!(std::fs::metadata(&key_file).expect("meta").permissions().mode() & 0o777, 0o600);
    // A late write from the running process is sealed under the new key.
    running.put_secret("after", b"after the rotation").await.expect("seals");
    let by_key = running.secrets_by_key().await.expect("count");
    assert_eq!(by_key, vec![(rotation.new_key.clone(), 1200 + 200 + 1)], "every row under the new key");
    // The running process opens everything without a restart.
    for i in [0, 599, 1199] {
        let plain = running.get_secret(&format!("test:{i}")).await.expect("opens after rotation");
        assert_eq!(plain, format!("secret number {i}").into_bytes());
    }
    assert_eq!(running.get_secret("during:199").await.expect("opens"), b"written during the rotation");
    // A process started afresh from the file alone opens them too.
    let fresh = Store::connect(&url, 2).expect("url").with_keyring(file);
    assert_eq!(fresh.get_secret("test:7").await.expect("opens"), b"secret number 7");
}
