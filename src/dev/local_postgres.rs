//! With no `DATABASE_URL`: use the PostgreSQL on 127.0.0.1:5432 if one answers,
//! otherwise start a private cluster from the installed PostgreSQL binaries in a
//! data directory of our own, and stop it when dropped.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

const STANDARD_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
const INSTALL_HINT: &str = "PostgreSQL is not installed: install it with `apt-get install -y postgresql` (or set DATABASE_URL to a running server)";

/// A database ready to use, and the private cluster serving it if we started one.
pub struct LocalDatabase {
    pub url: String,
    pub cluster: Option<PrivateCluster>,
}

/// Where private clusters live unless told otherwise. Root's home is closed to
/// the unprivileged user PostgreSQL must run as, so root uses /var/lib.
pub fn default_data_dir() -> PathBuf {
    if running_as_root() {
        PathBuf::from("/var/lib/sales-tracking")
    } else {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        home.join(".local/share/sales-tracking")
    }
}

/// Finds or starts a server and makes sure `database` exists on it.
pub async fn find_or_start(data_dir: &Path, database: &str) -> anyhow::Result<LocalDatabase> {
    let (server, cluster) = if server_answers(STANDARD_SERVER).await {
        (STANDARD_SERVER.to_string(), None)
    } else {
        let cluster = PrivateCluster::start(&data_dir.join("postgres"))?;
        (cluster.server_url(), Some(cluster))
    };
    create_database_if_missing(&server, database).await?;
    Ok(LocalDatabase {
        url: format!("{server}/{database}"),
        cluster,
    })
}

async fn server_answers(server: &str) -> bool {
    let url = format!("{server}/postgres");
    let attempt = AsyncPgConnection::establish(&url);
    matches!(tokio::time::timeout(Duration::from_secs(3), attempt).await, Ok(Ok(_)))
}

/// Creates `database` on `server` unless it is there already.
pub async fn create_database_if_missing(server: &str, database: &str) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let mut conn = AsyncPgConnection::establish(&format!("{server}/postgres")).await?;
    let found: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<diesel::sql_types::Text, _>(database)
        .get_result(&mut conn)
        .await?;
    if !found.exists {
        let created = diesel::sql_query(format!("CREATE DATABASE \"{database}\""))
            .execute(&mut conn)
            .await;
        // Another process may have created it in between; that is fine.
        if let Err(error) = created
            && !error.to_string().contains("already exists")
        {
            return Err(error.into());
        }
    }
    Ok(())
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A PostgreSQL cluster of our own, reachable on 127.0.0.1 at `port`.
pub struct PrivateCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    /// PostgreSQL refuses to run as root, so as root we run it as this user.
    run_as: Option<String>,
    pub port: u16,
}

impl PrivateCluster {
    /// Initialises `data_dir` if it is new and starts the server, or reuses one
    /// already running there.
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir().context(INSTALL_HINT)?;
        let run_as = if running_as_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let mut cluster = PrivateCluster {
            bin_dir,
            data_dir,
            run_as,
            port: 0,
        };
        if let Some(user) = &cluster.run_as {
            run(Command::new("chown").arg("-R").arg(user).arg(&cluster.data_dir))?;
        }
        if !cluster.data_dir.join("PG_VERSION").exists() {
            tracing::info!(dir = %cluster.data_dir.display(), "initialising a private PostgreSQL cluster");
            run(cluster
                .command("initdb")
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "-D"])
                .arg(&cluster.data_dir))?;
        }
        if let Some(port) = cluster.running_port() {
            cluster.port = port;
            return Ok(cluster);
        }
        cluster.port = free_port()?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            cluster.port,
            cluster.data_dir.display()
        );
        run(cluster
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-o", &options, "-l"])
            .arg(cluster.data_dir.join("server.log"))
            .arg("-D")
            .arg(&cluster.data_dir)
            .arg("start"))?;
        tracing::info!(port = cluster.port, "private PostgreSQL cluster started");
        Ok(cluster)
    }

    /// A streaming replica of this cluster in `data_dir` (a new directory), copied
    /// with `pg_basebackup -R` and started on a port of its own.
    pub fn start_replica(&self, data_dir: &Path) -> anyhow::Result<PrivateCluster> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(user) = &self.run_as {
            run(Command::new("chown").arg(user).arg(data_dir))?;
        }
        let port = self.port.to_string();
        run(self
            .command("pg_basebackup")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "-D",
            ])
            .arg(data_dir))?;
        PrivateCluster::start(data_dir)
    }

    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// The port of a server already running on this data directory.
    fn running_port(&self) -> Option<u16> {
        let status = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .output()
            .ok()?;
        if !status.status.success() {
            return None;
        }
        // postmaster.pid's fourth line is the port.
        let pid_file = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bin_dir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(binary);
                command
            }
            None => Command::new(binary),
        }
    }

    /// Leaves the server running after this value is gone (tests share one).
    pub fn keep_running(self) {
        std::mem::forget(self);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let stopped = self
            .command("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data_dir)
            .arg("stop")
            .output();
        match stopped {
            Ok(output) if output.status.success() => {
                tracing::info!("private PostgreSQL cluster stopped")
            }
            other => tracing::warn!(?other, "could not stop the private PostgreSQL cluster"),
        }
    }
}

/// Where the PostgreSQL binaries are: `PG_BIN_DIR`, else the newest Debian version, else `PATH`.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    // Debian keeps each major version's binaries apart; take the newest.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    on_path.ok_or_else(|| anyhow::anyhow!("no initdb found"))
}

fn unprivileged_user() -> anyhow::Result<String> {
    for user in ["postgres", "nobody"] {
        if Command::new("id")
            .arg("-u")
            .arg(user)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
        {
            return Ok(user.to_string());
        }
    }
    bail!("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("cannot run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
