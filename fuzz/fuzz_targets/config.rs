//! The config parser: any text is a config or a typed error naming where
//! it went wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text, std::path::Path::new("fuzz.toml"));
    }
});
