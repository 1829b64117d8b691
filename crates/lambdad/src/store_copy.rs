//! `lambdad store export|import`: moves a data directory's metadata between
//! its embedded SQLite database (`DATA_DIR/meta.db`) and a PostgreSQL
//! database, whole, into a target that must be empty. Sealed environment
//! variables move sealed (both use `DATA_DIR/meta.key`). An export also
//! stores the data directory's code archives in the database (first, so
//! that no record names an archive the database lacks), which lets other
//! nodes of a cluster run the functions; object bytes stay in the data
//! directory. No server may be using either store meanwhile.

use std::path::PathBuf;

use anyhow::{Context, bail};
use lambdad_store::{ClusterStore, CopyReport, PgStore, SqliteStore};
use sha2::{Digest, Sha256};

/// `lambdad store` arguments.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

/// What to move, and which way.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Copy DATA_DIR/meta.db into an empty PostgreSQL database (then serve with `--store URL`).
    Export(CopyArgs),
    /// Copy a PostgreSQL database into DATA_DIR/meta.db, which must be absent or empty.
    Import(CopyArgs),
}

/// `lambdad store export|import` arguments.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The PostgreSQL database, `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    #[arg(long)]
    pub postgres: String,
    /// The data directory.
    #[arg(long, env = "LAMBDAD_DATA_DIR", default_value = ".lambdad")]
    pub data_dir: PathBuf,
}

/// Runs `lambdad store export|import`, printing what moved.
pub fn run(args: &StoreArgs) -> anyhow::Result<()> {
    let (export, a) = match &args.command {
        StoreCommand::Export(a) => (true, a),
        StoreCommand::Import(a) => (false, a),
    };
    PgStore::check_url(&a.postgres).map_err(anyhow::Error::msg)?;
    let meta = a.data_dir.join("meta.db");
    if export && !meta.is_file() {
        bail!("{} does not exist: nothing to export", meta.display());
    }
    std::fs::create_dir_all(&a.data_dir)
        .with_context(|| format!("creating {}", a.data_dir.display()))?;
    let sqlite = SqliteStore::open(&meta).context("opening the SQLite metadata store")?;
    let pg = PgStore::connect(&a.postgres, None, &a.data_dir.join("meta.key"))
        .context("opening the PostgreSQL metadata store")?;
    let archives = if export {
        share_archives(&pg, &a.data_dir.join("code"))?
    } else {
        0
    };
    let (report, verb) = if export {
        (pg.import_from(&sqlite)?, "Exported")
    } else {
        (pg.export_to(&sqlite)?, "Imported")
    };
    println!("{verb} {} rows: {}.", total(&report), summary(&report));
    if export {
        println!("Stored {archives} code archives in the database.");
    }
    Ok(())
}

/// Stores every code archive of `code_dir` (`HEX.zip`, checked against its
/// name) in the database; how many.
fn share_archives(pg: &PgStore, code_dir: &std::path::Path) -> anyhow::Result<u64> {
    let Ok(entries) = std::fs::read_dir(code_dir) else {
        return Ok(0);
    };
    let mut n = 0;
    for entry in entries {
        let path = entry?.path();
        let Some(hex) = path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(".zip"))
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            continue;
        };
        let zip = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if hex::encode(Sha256::digest(&zip)) != hex {
            bail!("{} does not hold the archive its name says", path.display());
        }
        pg.put_code_blob(hex, &zip)
            .with_context(|| format!("storing {} in the database", path.display()))?;
        n += 1;
    }
    Ok(n)
}

fn total(report: &CopyReport) -> u64 {
    report.tables.iter().map(|(_, n)| n).sum()
}

/// `table N` for every table that had rows.
fn summary(report: &CopyReport) -> String {
    let moved: Vec<String> = report
        .tables
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    if moved.is_empty() {
        "the store was empty".to_owned()
    } else {
        moved.join(", ")
    }
}
