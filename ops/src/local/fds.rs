//! Open-file limits (`RLIMIT_NOFILE`). PgBouncer holds one descriptor per client, logged in
//! or not, so its `max_client_conn` is only real when its limit covers it: a service
//! manager's default soft limit (1024 under systemd) would cap it far below.

use rustix::process::{getrlimit, prlimit, Pid, Resource, Rlimit};

/// Soft and hard limits; `None` is unlimited.
type Limits = (Option<u64>, Option<u64>);

fn read(pid: Option<u32>) -> Option<Limits> {
    let Some(pid) = pid else {
        let l = getrlimit(Resource::Nofile);
        return Some((l.current, l.maximum));
    };
    // Another process: its /proc entry (prlimit would have to set a value to read one).
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut value = || fields.next().map(|v| v.parse::<u64>().ok());
    Some((value()?, value()?))
}

fn at_least(limit: Option<u64>, wanted: u64) -> bool {
    limit.is_none_or(|l| l >= wanted)
}

/// Raises the open-file limit of `pid` (`None`: this process, whose children inherit it) to
/// at least `wanted`, soft and hard, as far as the OS lets us (raising the hard limit needs
/// root or `CAP_SYS_RESOURCE`; otherwise the soft limit goes up to the hard one). Returns the
/// soft limit the process has afterwards (`u64::MAX` when unlimited).
pub fn raise_open_files(pid: Option<u32>, wanted: u64) -> std::io::Result<u64> {
    let target = match pid {
        Some(p) => Some(Pid::from_raw(i32::try_from(p).unwrap_or(0)).ok_or(std::io::ErrorKind::InvalidInput)?),
        None => None,
    };
    let (soft, hard) = read(pid).ok_or(std::io::ErrorKind::NotFound)?;
    if at_least(soft, wanted) {
        return Ok(soft.unwrap_or(u64::MAX));
    }
    let raised_hard = if at_least(hard, wanted) { hard } else { Some(wanted) };
    let first = prlimit(target, Resource::Nofile, Rlimit { current: Some(wanted), maximum: raised_hard });
    if first.is_err() {
        // Not allowed to raise the hard limit: take all of the one we have.
        let soft = hard.map(|h| h.min(wanted)).or(Some(wanted));
        prlimit(target, Resource::Nofile, Rlimit { current: soft, maximum: hard })?;
    }
    Ok(read(pid).ok_or(std::io::ErrorKind::NotFound)?.0.unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_gets_at_least_what_it_asks_for_or_its_hard_limit() {
        let (_, hard) = read(None).expect("own limits");
        let wanted = 4096;
        let got = raise_open_files(None, wanted).expect("raising");
        assert!(got >= wanted.min(hard.unwrap_or(u64::MAX)), "soft limit {got}");
        let again = read(Some(std::process::id())).expect("read through /proc");
        assert_eq!(again.0.unwrap_or(u64::MAX), got);
    }
}
