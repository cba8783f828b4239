//! A domain's xenstore entries: written and introduced when it starts,
//! removed and released when it ends.

use std::path::{Path, PathBuf};

use xenstored::client::{Client as XsClient, ClientError};

use crate::domain::Domain;

/// Why a domain's entries could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EntriesError {
    /// xenstored could not be reached.
    #[error("xenstored at {}: {source}", path.display())]
    Connect {
        /// Its socket.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ClientError,
    },
    /// xenstored refused a change.
    #[error("xenstore: {0}")]
    Store(#[source] ClientError),
}

fn connect(xenstore: &Path) -> Result<XsClient, EntriesError> {
    XsClient::connect(xenstore).map_err(|source| EntriesError::Connect {
        path: xenstore.to_path_buf(),
        source,
    })
}

/// libxl's default `console/limit`: the bytes xenconsoled buffers toward
/// a console's readers before it discards.
const CONSOLE_LIMIT: &str = "1048576";

/// Writes the domain's nodes and introduces it (`@introduceDomain`).
pub(crate) fn register(xenstore: &Path, d: &Domain) -> Result<(), EntriesError> {
    let mut xs = connect(xenstore)?;
    let base = format!("/local/domain/{}", d.domid);
    let vm = format!("/vm/{}", d.uuid);
    let kib = (d.config.memory_mib * 1024).to_string();
    let id = d.domid.to_string();
    let writes: [(String, &[u8]); 7] = [
        (format!("{base}/name"), d.config.name.as_bytes()),
        (format!("{base}/domid"), id.as_bytes()),
        (format!("{base}/vm"), vm.as_bytes()),
        (format!("{base}/memory/target"), kib.as_bytes()),
        (format!("{vm}/name"), d.config.name.as_bytes()),
        (format!("{vm}/uuid"), d.uuid.as_bytes()),
        (format!("{vm}/domid"), id.as_bytes()),
    ];
    // The console's directories are dom0's, the domain may only read
    // them (libxl's [n0, rN]): a compromised device model or guest cannot
    // rewrite the tty key a console client opens, nor the TCP address.
    // Made in the transaction; their permissions and keys follow the
    // commit, before the domain is introduced (until then no peer acts as
    // the domain, and xenconsoled does not look).
    let dom0_owned = [format!("{base}/console"), format!("{base}/serial/0")];
    let reader = format!("r{}", d.domid);
    let tcp = d
        .config
        .serial_tcp
        .as_ref()
        .map(|t| std::net::SocketAddr::new(t.ip, t.port).to_string());
    let mut console: Vec<(String, &[u8])> = vec![
        (format!("{base}/console/type"), b"xenconsoled"),
        (format!("{base}/console/limit"), CONSOLE_LIMIT.as_bytes()),
    ];
    if let Some(t) = &tcp {
        console.push((format!("{base}/serial/0/tcp"), t.as_bytes()));
    }
    let e = EntriesError::Store;
    xs.transaction(5, |c, tx| {
        for (p, v) in &writes {
            c.write(tx, p, v)?;
        }
        for dir in &dom0_owned {
            c.mkdir(tx, dir)?;
        }
        Ok(())
    })
    .map_err(e)?;
    // The domain owns its directory, as on Xen; dom0 reads it.
    xs.set_perms(0, &base, &[&format!("n{}", d.domid), "r0"])
        .map_err(e)?;
    for dir in &dom0_owned {
        xs.set_perms(0, dir, &["n0", &reader]).map_err(e)?;
    }
    // Written after the directories' permissions: they inherit them.
    for (p, v) in &console {
        xs.write(0, p, v).map_err(e)?;
    }
    xs.introduce(d.domid, 0, 1).map_err(e)
}

/// Removes the domain's nodes and releases it (`@releaseDomain`);
/// failures are logged: the domain is gone whatever the store says.
pub(crate) fn unregister(xenstore: &Path, d: &Domain) {
    match connect(xenstore) {
        Ok(mut xs) => {
            let _ = xs.rm(0, &format!("/local/domain/{}", d.domid));
            let _ = xs.rm(0, &format!("/vm/{}", d.uuid));
            if let Err(e) = xs.release(d.domid) {
                tracing::warn!(domid = d.domid, "xenstore release: {e}");
            }
        }
        Err(e) => tracing::warn!(domid = d.domid, "{e}"),
    }
}
