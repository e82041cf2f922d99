//! The `clinbridge` command: serve the web UI and API, build a demo, manage users, grants and
//! tokens, verify the audit trail, back up, and benchmark.
#![forbid(unsafe_code)]

mod bench;
mod transfer;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};
use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_store::{Acting, Settings, Store, identity};
use clinbridge_web::{AppState, Config, SmtpConfig};
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "clinbridge",
    version,
    about = "Clinbridge: clinical operations platform (web UI, JSON API, command line)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// Database: sqlite://FILE (created if missing) or postgres://USER@HOST/DB.
    #[arg(long, env = "CLINBRIDGE_DATABASE_URL", default_value = "sqlite://clinbridge.db")]
    database_url: String,
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CLINBRIDGE_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// The address users reach the server at; https:// turns on Secure cookies and HSTS.
    #[arg(long, env = "CLINBRIDGE_PUBLIC_URL")]
    public_url: Option<String>,
    /// SMTP server for overdue-task e-mail, e.g. smtps://user:pass@mail.example.org.
    #[arg(long, env = "CLINBRIDGE_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender address for e-mail.
    #[arg(long, env = "CLINBRIDGE_SMTP_FROM", default_value = "Clinbridge <clinbridge@localhost>")]
    smtp_from: String,
    /// URL that receives a JSON POST for each overdue task (e.g. a chat webhook).
    #[arg(long, env = "CLINBRIDGE_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "CLINBRIDGE_SESSION_IDLE_MINUTES", default_value_t = 30)]
    session_idle_minutes: i64,
    /// Hours after sign-in after which a session ends regardless of activity.
    #[arg(long, env = "CLINBRIDGE_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    session_absolute_hours: i64,
    /// Failed sign-ins that lock an account.
    #[arg(long, env = "CLINBRIDGE_LOCKOUT_THRESHOLD", default_value_t = 5)]
    lockout_threshold: i64,
    /// Minutes an account stays locked.
    #[arg(long, env = "CLINBRIDGE_LOCKOUT_MINUTES", default_value_t = 15)]
    lockout_minutes: i64,
    /// Seconds between passes of the deadline ticker.
    #[arg(long, env = "CLINBRIDGE_TICK_SECONDS", default_value_t = 30)]
    tick_seconds: u64,
}

impl ServeArgs {
    fn settings(&self) -> Result<Settings> {
        if self.session_idle_minutes < 1
            || self.session_absolute_hours < 1
            || self.lockout_threshold < 1
            || self.lockout_minutes < 1
        {
            bail!("session timeouts, lockout threshold and lockout minutes must be at least 1");
        }
        Ok(Settings {
            session_idle: chrono::Duration::minutes(self.session_idle_minutes),
            session_absolute: chrono::Duration::hours(self.session_absolute_hours),
            lockout_threshold: self.lockout_threshold,
            lockout_duration: chrono::Duration::minutes(self.lockout_minutes),
            ..Settings::default()
        })
    }
    fn config(&self) -> Config {
        Config {
            public_url: self.public_url.clone(),
            smtp: self.smtp_url.clone().map(|url| SmtpConfig { url, from: self.smtp_from.clone() }),
            webhook_url: self.webhook_url.clone(),
            tick_interval: Duration::from_secs(self.tick_seconds.max(1)),
            ..Config::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI and the JSON API.
    Serve {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Build a fresh demo database full of realistic data and serve it.
    Demo {
        /// Demo database (a SQLite file here is replaced; a PostgreSQL database must be empty).
        #[arg(long, env = "CLINBRIDGE_DEMO_DATABASE_URL", default_value = "sqlite://clinbridge-demo.db")]
        database_url: String,
        /// Build the database and exit without serving.
        #[arg(long)]
        seed_only: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Create or upgrade the database schema.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Give a user a role in a scope (or take it away with --revoke).
    Grant {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        /// Limit the role to one study (by code).
        #[arg(long, conflicts_with = "site")]
        study: Option<String>,
        /// Limit the role to one site (by code).
        #[arg(long)]
        site: Option<String>,
        /// Remove the grant instead of adding it.
        #[arg(long)]
        revoke: bool,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Consistent online copy of a SQLite database (use pg_dump for PostgreSQL).
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// File to write; must not exist.
        #[arg(long)]
        to: String,
    },
    /// Export a study's EDC data to a file: ODM, REDCap flat CSV or EAV CSV.
    Export {
        /// The file format.
        #[arg(value_enum)]
        format: transfer::ExportFormat,
        #[command(flatten)]
        args: transfer::ExportArgs,
    },
    /// Import EDC data from a REDCap flat CSV or ODM file, all or nothing, as a user.
    Import {
        /// The file format.
        #[arg(value_enum)]
        format: transfer::ImportFormat,
        #[command(flatten)]
        args: transfer::ImportArgs,
    },
    /// Measure throughput against the raw database baseline.
    Bench {
        #[command(subcommand)]
        workload: bench::Workload,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user with one role.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        /// Limit the role to one study (by code).
        #[arg(long, conflicts_with = "site")]
        study: Option<String>,
        /// Limit the role to one site (by code).
        #[arg(long)]
        site: Option<String>,
        /// IANA time zone of the user.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Name of the organization, when this is the first user of a new database.
        #[arg(long, env = "CLINBRIDGE_ORGANIZATION", default_value = "Clinbridge")]
        organization: String,
    },
    /// List users with their roles.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Deactivate a user (users are never deleted).
    Deactivate {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        reason: String,
    },
    /// Set a new password (generated unless --password-stdin) and end the user's sessions.
    ResetPassword {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token for a user; it is printed once.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "command line")]
        name: String,
        /// A REDCap API token (32 hexadecimal characters) for one study instead of a bearer
        /// token; the person needs EDC access to the study.
        #[arg(long, requires = "study")]
        redcap: bool,
        /// The study's code (with --redcap).
        #[arg(long, requires = "redcap")]
        study: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every hash chain and checkpoint; exit 0 when intact, 1 naming the first broken entry.
    Verify {
        #[command(flatten)]
        db: DbArgs,
    },
}

fn cli_acting(what: &str) -> Acting {
    let os_user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Acting { user: None, request_id: Some(format!("cli:{what} (os user {os_user})")) }
}

async fn open(db: &DbArgs) -> Result<Store> {
    Store::open(&db.database_url, Settings::default())
        .await
        .with_context(|| format!("opening {}", redact(&db.database_url)))
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

fn read_password() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

async fn scope(store: &Store, study: Option<&str>, site: Option<&str>) -> Result<Scope> {
    Ok(match (study, site) {
        (Some(code), _) => Scope::Study(
            clinbridge_store::trials::study_by_code(store, code).await.with_context(|| format!("no study {code}"))?.id,
        ),
        (_, Some(code)) => {
            Scope::Site(identity::site_by_code(store, code).await.with_context(|| format!("no site {code}"))?.id)
        }
        _ => Scope::Organization,
    })
}

async fn user_by_email(store: &Store, email: &str) -> Result<identity::User> {
    let e = Email::parse(email)?;
    identity::user_by_email(store, &e).await.with_context(|| format!("no user {e}"))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLINBRIDGE_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn run_server(store: Store, serve: &ServeArgs) -> Result<()> {
    let listener =
        tokio::net::TcpListener::bind(&serve.bind).await.with_context(|| format!("binding {}", serve.bind))?;
    let addr = listener.local_addr()?;
    let state = AppState { store, config: Arc::new(serve.config()) };
    println!("Clinbridge is listening on http://{addr}");
    clinbridge_web::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { db, serve } => {
            init_tracing();
            let store = Store::open(&db.database_url, serve.settings()?)
                .await
                .with_context(|| format!("opening {}", redact(&db.database_url)))?;
            identity::ensure_organization(&store, "Clinbridge").await?;
            if identity::users(&store).await?.is_empty() {
                println!(
                    "No users yet. Create the first administrator with:\n  clinbridge user create --database-url {} --email you@example.org --name \"Your Name\" --role admin",
                    redact(&db.database_url)
                );
            }
            run_server(store, &serve).await?;
        }
        Command::Demo { database_url, seed_only, serve } => {
            init_tracing();
            if let Some(path) = database_url.strip_prefix("sqlite://") {
                let file = path.split('?').next().unwrap_or(path);
                for suffix in ["", "-wal", "-shm"] {
                    let p = format!("{file}{suffix}");
                    if std::path::Path::new(&p).exists() {
                        std::fs::remove_file(&p).with_context(|| format!("removing the old demo database {p}"))?;
                    }
                }
            }
            let store = Store::open(&database_url, serve.settings()?)
                .await
                .with_context(|| format!("opening {}", redact(&database_url)))?;
            let world = clinbridge_store::demo::seed(&store).await.context("building the demo database")?;
            println!("Demo database ready: {}", redact(&database_url));
            println!("Every demo account's password is: {}", clinbridge_store::demo::DEMO_PASSWORD);
            println!("{:<22} {:<38} {:<20} scope", "role", "e-mail", "name");
            for l in &world.logins {
                println!("{:<22} {:<38} {:<20} {}", l.role.as_str(), l.email, l.name, l.scope);
            }
            if seed_only {
                store.close().await;
            } else {
                println!("Open http://{} in a browser and sign in with one of the accounts above.", serve.bind);
                run_server(store, &serve).await?;
            }
        }
        Command::Migrate { db } => {
            let store = open(&db).await?;
            println!("Database is up to date ({}).", store.backend().as_str());
            store.close().await;
        }
        Command::User { command } => user_command(command).await?,
        Command::Token { command: TokenCommand::Create { db, email, redcap: true, study, .. } } => {
            let store = open(&db).await?;
            let user = user_by_email(&store, &email).await?;
            let code = study.unwrap_or_default();
            let study = clinbridge_store::trials::study_by_code(&store, &code).await?;
            let actor = identity::actor(&store, user.id).await?;
            let edc_read = clinbridge_core::policy::Action::new(
                clinbridge_core::policy::Context::Edc,
                clinbridge_core::policy::Op::Read,
            );
            if !clinbridge_core::policy::authorize(&actor, edc_read, clinbridge_core::policy::Target::study(study.id))
                .allowed()
            {
                anyhow::bail!("{} has no study-wide EDC access to {}: grant it first", user.email, study.code);
            }
            let (_, secret) = clinbridge_store::edc::redcap::create_token(
                &store,
                &cli_acting("token create --redcap"),
                user.id,
                study.id,
            )
            .await?;
            println!("{secret}");
            eprintln!(
                "REDCap API token for {} on {} created. It is shown only this once; use it with the API at /redcap/api/.",
                user.email, study.code
            );
            store.close().await;
        }
        Command::Token { command: TokenCommand::Create { db, email, name, .. } } => {
            let store = open(&db).await?;
            let user = user_by_email(&store, &email).await?;
            let (_, secret) = identity::create_token(&store, &cli_acting("token create"), user.id, &name).await?;
            println!("{secret}");
            eprintln!(
                "API token for {} created. It is shown only this once; use it as Authorization: Bearer <token>.",
                user.email
            );
            store.close().await;
        }
        Command::Grant { db, email, role, study, site, revoke } => {
            let store = open(&db).await?;
            let user = user_by_email(&store, &email).await?;
            let role = Role::parse(&role)?;
            let scope = scope(&store, study.as_deref(), site.as_deref()).await?;
            let acting = cli_acting("grant");
            if revoke {
                let g = identity::grants_of(&store, user.id)
                    .await?
                    .into_iter()
                    .find(|g| g.role == role && g.scope == scope);
                let Some(g) = g else { bail!("{} does not hold {role} in that scope", user.email) };
                identity::remove_grant(&store, &acting, g.id).await?;
                println!("Removed {role} from {}.", user.email);
            } else {
                identity::add_grant(&store, &acting, user.id, Grant { role, scope }).await?;
                println!("{} is now {role} ({}).", user.email, scope.kind());
            }
            store.close().await;
        }
        Command::Audit { command: AuditCommand::Verify { db } } => {
            let store = open(&db).await?;
            let started = std::time::Instant::now();
            let v = clinbridge_store::audit::verify(&store).await?;
            let secs = started.elapsed().as_secs_f64();
            store.close().await;
            match v.result {
                Ok(()) => {
                    println!(
                        "Audit trail intact: {} entries and {} checkpoints verified in {:.2} s ({:.0} entries/s).",
                        v.entries,
                        v.checkpoints,
                        secs,
                        v.entries as f64 / secs.max(1e-9)
                    );
                    if let Some(h) = v.latest_checkpoint_hash {
                        println!("Latest checkpoint hash (keep a copy outside the database): {h}");
                    }
                }
                Err(b) => {
                    println!("AUDIT TRAIL BROKEN: {b}");
                    return Ok(std::process::ExitCode::from(1));
                }
            }
        }
        Command::Backup { db, to } => {
            if db.database_url.starts_with("postgres") {
                bail!(
                    "backup copies SQLite databases; for PostgreSQL use pg_dump (for example: pg_dump --format=custom --file={to} DBNAME)"
                );
            }
            if std::path::Path::new(&to).exists() {
                bail!("{to} already exists; choose a new file");
            }
            let store = open(&db).await?;
            clinbridge_store::backup_sqlite(&store, &to).await?;
            store.close().await;
            println!("Backed up to {to}.");
        }
        Command::Export { format, args } => return transfer::export(format, args).await,
        Command::Import { format, args } => return transfer::import(format, args).await,
        Command::Bench { workload } => bench::run(workload).await?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn user_command(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Create { db, email, name, role, study, site, time_zone, password_stdin, organization } => {
            let store = open(&db).await?;
            identity::ensure_organization(&store, &organization).await?;
            let email = Email::parse(&email)?;
            let (password, generated) = if password_stdin {
                (read_password()?, false)
            } else {
                (clinbridge_store::secrets::generated_password()?, true)
            };
            let pw = NewPassword::parse(&password, Some(&email))?;
            let grant =
                Grant { role: Role::parse(&role)?, scope: scope(&store, study.as_deref(), site.as_deref()).await? };
            let user = identity::create_user(
                &store,
                &cli_acting("user create"),
                identity::NewUser {
                    email,
                    name: clinbridge_core::identity::person_name(&name)?,
                    password: pw,
                    time_zone: TimeZone::parse(&time_zone)?,
                },
                vec![grant],
            )
            .await?;
            println!("Created {} <{}> as {}.", user.name, user.email, grant.role);
            if generated {
                println!("Password (shown once): {password}");
            }
            store.close().await;
        }
        UserCommand::List { db } => {
            let store = open(&db).await?;
            let grants = identity::all_grants(&store).await?;
            println!("{:<36} {:<32} {:<24} {:<8} roles", "id", "e-mail", "name", "status");
            for u in identity::users(&store).await? {
                let roles: Vec<String> = grants
                    .iter()
                    .filter(|g| g.user_id == u.id)
                    .map(|g| {
                        if g.scope_label.is_empty() {
                            g.role.as_str().to_string()
                        } else {
                            format!("{}@{}", g.role, g.scope_label)
                        }
                    })
                    .collect();
                println!(
                    "{:<36} {:<32} {:<24} {:<8} {}",
                    u.id,
                    u.email,
                    u.name,
                    if u.active { "active" } else { "inactive" },
                    roles.join(", ")
                );
            }
            store.close().await;
        }
        UserCommand::Deactivate { db, email, reason } => {
            let store = open(&db).await?;
            let user = user_by_email(&store, &email).await?;
            identity::set_user_active(&store, &cli_acting("user deactivate"), user.id, false, Some(reason)).await?;
            println!("Deactivated {}; their sessions and tokens no longer work.", user.email);
            store.close().await;
        }
        UserCommand::ResetPassword { db, email, password_stdin } => {
            let store = open(&db).await?;
            let user = user_by_email(&store, &email).await?;
            let e = Email::parse(&user.email)?;
            let (password, generated) = if password_stdin {
                (read_password()?, false)
            } else {
                (clinbridge_store::secrets::generated_password()?, true)
            };
            let pw = NewPassword::parse(&password, Some(&e))?;
            identity::set_password(&store, &cli_acting("user reset-password"), user.id, &pw, None).await?;
            println!("Password of {} reset; their sessions were ended.", user.email);
            if generated {
                println!("New password (shown once): {password}");
            }
            store.close().await;
        }
    }
    Ok(())
}
