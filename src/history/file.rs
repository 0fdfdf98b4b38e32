//! The history on disk: closed points appended as fixed 16-byte records,
//! so a Pi's SD card sees about 4.6 KB a day, and a torn last record (a
//! power cut mid-write) is recognised and dropped rather than misread.
//!
//! Layout: an 8-byte magic, then records of `start_min` u32, °C and
//! target in hundredths i16, `on_secs` u16, `cycles` u8, `level` u8, two
//! zero bytes and a Fletcher-16 of the first 14, all little-endian. When
//! the file holds twice [`KEPT_POINTS`], it is rewritten with the newest
//! [`KEPT_POINTS`] (a new file renamed over the old), once a week.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{HistoryPoint, KEPT_POINTS};

const MAGIC: &[u8; 8] = b"OMHIST1\n";
const RECORD: usize = 16;

/// Why the history file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryFileError {
    #[error("history file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("history file {path} is not a history file (bad header); it is replaced")]
    NotHistory { path: PathBuf },
}

/// `history.bin` in a node's data directory.
#[derive(Debug, Clone)]
pub struct HistoryFile {
    path: PathBuf,
    /// Records in the file, to know when to compact.
    records: usize,
    /// Bytes written through this handle: the SD card's budget, measured.
    written: u64,
}

impl HistoryFile {
    /// The history file of the data directory `dir`.
    pub fn in_dir(dir: &Path) -> HistoryFile {
        HistoryFile {
            path: dir.join("history.bin"),
            records: 0,
            written: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes this handle wrote so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// The points stored, oldest first, the newest [`KEPT_POINTS`]; an
    /// absent file is an empty history. Records that fail their check or
    /// go back in time are skipped.
    pub fn load(&mut self) -> Result<Vec<HistoryPoint>, HistoryFileError> {
        let io = |source| HistoryFileError::Io {
            path: self.path.clone(),
            source,
        };
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => f.read_to_end(&mut bytes).map_err(io)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(HistoryFileError::NotHistory {
                path: self.path.clone(),
            });
        }
        let mut points: Vec<HistoryPoint> = Vec::new();
        let records = bytes[MAGIC.len()..].chunks_exact(RECORD);
        self.records = records.len();
        for record in records {
            let Some(p) = decode(record) else {
                continue;
            };
            if points.last().is_some_and(|l| l.start_min >= p.start_min) {
                continue;
            }
            points.push(p);
        }
        if points.len() > KEPT_POINTS {
            points.drain(..points.len() - KEPT_POINTS);
        }
        Ok(points)
    }

    /// Appends `points` (and syncs them); rewrites the file with the
    /// newest of `all` when it has grown to twice what is kept. Blocking:
    /// call it off the event loop.
    pub fn append(
        &mut self,
        points: &[HistoryPoint],
        all: impl FnOnce() -> Vec<HistoryPoint>,
    ) -> Result<(), HistoryFileError> {
        if points.is_empty() {
            return Ok(());
        }
        if self.records + points.len() > 2 * KEPT_POINTS {
            return self.rewrite(&all());
        }
        let io = |source| HistoryFileError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut buf = Vec::with_capacity(MAGIC.len() + points.len() * RECORD);
        if len == 0 {
            buf.extend_from_slice(MAGIC);
        } else if (len - MAGIC.len() as u64) % RECORD as u64 != 0 {
            // A torn record from a power cut: start over cleanly rather
            // than misalign every record after it.
            drop(file);
            return self.rewrite(&all());
        }
        for p in points {
            buf.extend_from_slice(&encode(p));
        }
        file.write_all(&buf).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.records += points.len();
        self.written += buf.len() as u64;
        Ok(())
    }

    /// Replaces the file with the newest [`KEPT_POINTS`] of `points`.
    fn rewrite(&mut self, points: &[HistoryPoint]) -> Result<(), HistoryFileError> {
        let io = |source| HistoryFileError::Io {
            path: self.path.clone(),
            source,
        };
        let keep = &points[points.len().saturating_sub(KEPT_POINTS)..];
        let mut buf = Vec::with_capacity(MAGIC.len() + keep.len() * RECORD);
        buf.extend_from_slice(MAGIC);
        for p in keep {
            buf.extend_from_slice(&encode(p));
        }
        let tmp = self.path.with_extension("bin.new");
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(&buf).map_err(io)?;
        file.sync_data().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        self.records = keep.len();
        self.written += buf.len() as u64;
        Ok(())
    }
}

fn fletcher16(bytes: &[u8]) -> u16 {
    let (mut a, mut b) = (0u16, 0u16);
    for &byte in bytes {
        a = (a + u16::from(byte)) % 255;
        b = (b + a) % 255;
    }
    (b << 8) | a
}

fn encode(p: &HistoryPoint) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..4].copy_from_slice(&p.start_min.to_le_bytes());
    r[4..6].copy_from_slice(&p.centi_celsius.to_le_bytes());
    r[6..8].copy_from_slice(&p.target_centi.to_le_bytes());
    r[8..10].copy_from_slice(&p.on_secs.to_le_bytes());
    r[10] = p.cycles;
    r[11] = p.level;
    let check = fletcher16(&r[..14]);
    r[14..16].copy_from_slice(&check.to_le_bytes());
    r
}

fn decode(r: &[u8]) -> Option<HistoryPoint> {
    let check = u16::from_le_bytes([*r.get(14)?, *r.get(15)?]);
    if r.len() != RECORD || fletcher16(&r[..14]) != check || r[12] != 0 || r[13] != 0 {
        return None;
    }
    Some(HistoryPoint {
        start_min: u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
        centi_celsius: i16::from_le_bytes([r[4], r[5]]),
        target_centi: i16::from_le_bytes([r[6], r[7]]),
        on_secs: u16::from_le_bytes([r[8], r[9]]),
        cycles: r[10],
        level: r[11],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(min: u32) -> HistoryPoint {
        HistoryPoint {
            start_min: min,
            centi_celsius: 2012,
            target_centi: 2100,
            on_secs: 120,
            cycles: 1,
            level: 3,
        }
    }

    #[test]
    fn appends_reloads_and_drops_a_torn_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = HistoryFile::in_dir(dir.path());
        assert!(file.load().unwrap().is_empty());
        file.append(&[point(5), point(10)], Vec::new).unwrap();
        file.append(&[point(15)], Vec::new).unwrap();
        assert_eq!(file.bytes_written(), 8 + 3 * 16);
        let mut again = HistoryFile::in_dir(dir.path());
        assert_eq!(again.load().unwrap(), vec![point(5), point(10), point(15)]);
        // A power cut mid-record, and a flipped bit in another.
        let mut bytes = std::fs::read(file.path()).unwrap();
        bytes[8 + 16 + 4] ^= 0x40;
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(file.path(), &bytes).unwrap();
        let mut torn = HistoryFile::in_dir(dir.path());
        assert_eq!(torn.load().unwrap(), vec![point(5), point(15)]);
        // The next append starts the file over instead of misaligning.
        torn.append(&[point(20)], || vec![point(5), point(15), point(20)])
            .unwrap();
        let mut after = HistoryFile::in_dir(dir.path());
        assert_eq!(after.load().unwrap(), vec![point(5), point(15), point(20)]);
    }

    #[test]
    fn compacts_at_twice_what_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = HistoryFile::in_dir(dir.path());
        let all: Vec<HistoryPoint> = (1..=(2 * KEPT_POINTS as u32 + 1)).map(point).collect();
        for chunk in all.chunks(12) {
            let upto = chunk.last().unwrap().start_min as usize;
            file.append(chunk, || all[..upto].to_vec()).unwrap();
        }
        let len = std::fs::metadata(file.path()).unwrap().len() as usize;
        assert!(len <= 8 + 2 * KEPT_POINTS * RECORD, "{len}");
        let loaded = HistoryFile::in_dir(dir.path()).load().unwrap();
        assert_eq!(loaded.len(), KEPT_POINTS);
        assert_eq!(loaded.last(), all.last());
    }

    #[test]
    fn refuses_a_file_that_is_not_a_history() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("history.bin"), b"hello").unwrap();
        assert!(matches!(
            HistoryFile::in_dir(dir.path()).load(),
            Err(HistoryFileError::NotHistory { .. })
        ));
    }
}
