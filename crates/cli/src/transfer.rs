//! `clinbridge export` and `clinbridge import`: a study's EDC data written to a file (REDCap's
//! flat CSV, EAV CSV or CDISC ODM) or read back from one, all or nothing, with a progress bar
//! on a terminal.

use crate::{DbArgs, cli_acting, open, user_by_email};
use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use clinbridge_core::edc::DateOrder;
use clinbridge_core::policy::{Action, Context, Op, Target, authorize};
use clinbridge_store::edc::transfer::{self, ExportOptions, FlatOptions, Format, ImportOptions};
use clinbridge_store::{Acting, Store, StoreError, identity, trials};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use uuid::Uuid;

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// CDISC ODM 1.3.2 (XML).
    Odm,
    /// REDCap's flat CSV: one row per record, event and repeat instance.
    Csv,
    /// REDCap's EAV CSV: one row per value.
    Eav,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    /// REDCap's flat CSV (a header row of field names).
    Csv,
    /// CDISC ODM clinical data (XML).
    Odm,
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The study's code.
    #[arg(long)]
    pub study: String,
    /// File to write (replaced if it exists; written only when the export succeeds).
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Leave out identifier fields and shift each record's dates by a random number of days.
    #[arg(long)]
    pub deidentified: bool,
    /// Choice, status and event labels instead of codes (CSV and EAV).
    #[arg(long)]
    pub labels: bool,
    /// ODM: every change of every value with its audit record, and the signatures.
    #[arg(long)]
    pub audit: bool,
    /// Export as this user (their sites only; the audit trail names them). Without it the
    /// export takes every record and the audit trail names the command line.
    #[arg(long)]
    pub email: Option<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The study's code.
    #[arg(long)]
    pub study: String,
    /// File to read.
    #[arg(long)]
    pub file: std::path::PathBuf,
    /// Blank cells erase stored values (otherwise they leave them as they are).
    #[arg(long)]
    pub overwrite: bool,
    /// The order dates are written in: YMD, MDY or DMY.
    #[arg(long, default_value = "YMD")]
    pub date_format: String,
    /// The user the import acts as (needs EDC write access to the study or its sites).
    #[arg(long)]
    pub email: String,
    /// The reason for change recorded with every changed form (default: "Data import from FILE").
    #[arg(long)]
    pub reason: Option<String>,
}

/// The sites whose records `user` may `action` on (`None`: every record), or an error when none.
async fn user_sites(store: &Store, user: &identity::User, study: Uuid, action: Action) -> Result<Option<Vec<Uuid>>> {
    let actor = identity::actor(store, user.id).await?;
    if authorize(&actor, action, Target::study(study)).allowed() {
        return Ok(None);
    }
    let mine: Vec<Uuid> = trials::study_sites(store, study)
        .await?
        .into_iter()
        .map(|s| s.site_id)
        .filter(|s| authorize(&actor, action, Target::study_site(study, *s)).allowed())
        .collect();
    if mine.is_empty() {
        bail!("{} may not do that in this study", user.email);
    }
    Ok(Some(mine))
}

fn progress(template: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            pb.set_style(style);
        }
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
    } else {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb
}

pub async fn export(format: ExportFormat, a: ExportArgs) -> Result<ExitCode> {
    let store = open(&a.db).await?;
    let study = trials::study_by_code(&store, &a.study).await.with_context(|| format!("no study {}", a.study))?;
    let (acting, sites) = match &a.email {
        Some(email) => {
            let user = user_by_email(&store, email).await?;
            let sites = user_sites(&store, &user, study.id, Action::new(Context::Edc, Op::Export)).await?;
            (Acting::user(user.id, Some("cli:export".into())), sites)
        }
        None => (cli_acting("export"), None),
    };
    let format = match format {
        ExportFormat::Odm => Format::Odm,
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Eav => Format::Eav,
    };
    let mut opts = ExportOptions {
        flat: FlatOptions { labels: a.labels, deidentified: a.deidentified, ..Default::default() },
        audit: a.audit,
    };
    opts.flat.filter.sites = sites;
    // Problems with the options are reported before anything is written or audited.
    transfer::flat_columns(&store, study.id, &opts.flat).await?;
    transfer::audit_export(
        &store,
        &acting,
        study.id,
        format.as_str(),
        &opts.flat,
        serde_json::json!({ "audit": opts.audit, "via": "cli" }),
    )
    .await?;

    let dir = match a.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(&dir).with_context(|| format!("writing in {}", dir.display()))?;
    let pb = progress("{spinner} {bytes} written ({bytes_per_sec}) {msg}");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let producer = async {
        let tx = tx;
        transfer::export(&store, study.id, format, &opts, &tx).await
    };
    let consumer = async {
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        while let Some(chunk) = rx.recv().await {
            out.write_all(&chunk)?;
            pb.inc(chunk.len() as u64);
        }
        out.flush()
    };
    let (made, written) = tokio::join!(producer, consumer);
    pb.finish_and_clear();
    written.with_context(|| format!("writing {}", a.out.display()))?;
    let count = made.context("exporting")?;
    let bytes = pb.position();
    file.persist(&a.out).with_context(|| format!("writing {}", a.out.display()))?;
    store.close().await;
    let what = match format {
        Format::Csv => "rows",
        Format::Eav => "values",
        Format::Odm => "subjects",
    };
    eprintln!("Exported {count} {what} of {} ({bytes} bytes) to {}.", study.code, a.out.display());
    Ok(ExitCode::SUCCESS)
}

pub async fn import(format: ImportFormat, a: ImportArgs) -> Result<ExitCode> {
    let dates = DateOrder::parse(&a.date_format).context("--date-format must be YMD, MDY or DMY")?;
    let body = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let store = open(&a.db).await?;
    let study = trials::study_by_code(&store, &a.study).await.with_context(|| format!("no study {}", a.study))?;
    let user = user_by_email(&store, &a.email).await?;
    if !user.active {
        bail!("{} is deactivated", user.email);
    }
    let sites = user_sites(&store, &user, study.id, Action::new(Context::Edc, Op::Write)).await?;
    let acting = Acting::user(user.id, Some("cli:import".into()));
    let file_name = a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let opts = ImportOptions {
        overwrite: a.overwrite,
        dates,
        force_auto_number: false,
        reason: a
            .reason
            .clone()
            .filter(|r| !r.trim().is_empty())
            .unwrap_or_else(|| format!("Data import from {file_name}")),
    };
    let pb = progress("{spinner} importing {msg} ({elapsed})");
    pb.set_message(file_name);
    let outcome = match format {
        ImportFormat::Odm => transfer::odm::import(&store, &acting, study.id, &body, &opts, sites).await,
        ImportFormat::Csv => match clinbridge_web::api::edc_transfer::csv_rows(&body) {
            Ok(rows) => transfer::import_flat_at(&store, &acting, study.id, rows, &opts, sites).await,
            Err(clinbridge_web::error::ApiError::Invalid(errors)) => Err(clinbridge_core::Invalid(errors).into()),
            Err(_) => Err(StoreError::Refused("the file could not be read".into())),
        },
    };
    pb.finish_and_clear();
    store.close().await;
    match outcome {
        Ok(o) => {
            println!(
                "Imported {} record{} into {}: {}",
                o.count,
                if o.count == 1 { "" } else { "s" },
                study.code,
                o.ids.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(StoreError::Invalid(inv)) => {
            eprintln!("Nothing was imported ({} problem{}):", inv.0.len(), if inv.0.len() == 1 { "" } else { "s" });
            for e in &inv.0 {
                eprintln!("  {}: {}", e.field, e.message);
            }
            Ok(ExitCode::from(1))
        }
        Err(StoreError::Refused(msg)) => {
            eprintln!("Nothing was imported: {msg}");
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
