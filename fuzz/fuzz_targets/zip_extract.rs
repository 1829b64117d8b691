//! Code archives as CreateFunction/UpdateFunctionCode/PublishLayerVersion
//! store them: arbitrary bytes must be refused or unpacked inside the code
//! store, never written elsewhere and never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use lambdad_store::code::CodeStore;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    /// Holds only `code/`: anything else is an escape.
    parent: PathBuf,
    store: CodeStore,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // tmpfs where there is one: the store syncs every archive.
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let parent = base.join(format!("lambdad-fuzz-zip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&parent);
        std::fs::create_dir_all(&parent).unwrap();
        let store = CodeStore::open(parent.join("code")).unwrap();
        Fixture { parent, store }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Ok(info) = f.store.put_zip(data) {
        assert!(info.dir.starts_with(f.parent.join("code")));
        f.store.remove(&info.sha256_hex);
    }
    let names: Vec<_> = std::fs::read_dir(&f.parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["code"], "an archive wrote outside the code store");
});
