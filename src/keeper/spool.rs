//! The keeper's spool: what a gateway wrote while no supervisor was
//! connected, one record per read, with when it was read.

use std::io::{self, Read, Write};

/// A spool record: `[u64 LE unix ms][u32 LE length][bytes]`.
pub fn write_record(out: &mut impl Write, at_ms: u64, bytes: &[u8]) -> io::Result<()> {
    let mut record = Vec::with_capacity(12 + bytes.len());
    record.extend_from_slice(&at_ms.to_le_bytes());
    record.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    record.extend_from_slice(bytes);
    out.write_all(&record)
}

/// The next spool record; None at the end (a record cut short by a crash
/// while it was written ends the spool too).
pub fn read_record(input: &mut impl Read) -> io::Result<Option<(u64, Vec<u8>)>> {
    let mut head = [0u8; 12];
    match input.read_exact(&mut head) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let mut at = [0u8; 8];
    at.copy_from_slice(&head[..8]);
    let mut length = [0u8; 4];
    length.copy_from_slice(&head[8..]);
    let length = u32::from_le_bytes(length) as usize;
    if length > super::wire::MAX_FRAME {
        return Ok(None);
    }
    let mut bytes = vec![0u8; length];
    match input.read_exact(&mut bytes) {
        Ok(()) => Ok(Some((u64::from_le_bytes(at), bytes))),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_records_read_back_in_order_and_a_torn_one_ends_the_spool() {
        let mut spool = Vec::new();
        write_record(&mut spool, 1, b"first line\n").expect("write");
        write_record(&mut spool, 2, b"").expect("write");
        write_record(&mut spool, 3, b"half a li").expect("write");
        let whole = spool.len();
        write_record(&mut spool, 4, b"torn record").expect("write");
        spool.truncate(whole + 15);
        let mut input = spool.as_slice();
        let mut read = Vec::new();
        while let Some(record) = read_record(&mut input).expect("read") {
            read.push(record);
        }
        assert_eq!(
            read,
            vec![
                (1, b"first line\n".to_vec()),
                (2, Vec::new()),
                (3, b"half a li".to_vec())
            ]
        );
    }
}
