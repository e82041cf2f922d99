//! The background ticker of the task engine: it announces overdue tasks (in-app notifications,
//! e-mail through SMTP when configured, a JSON webhook when configured) and writes audit
//! checkpoints.

use crate::AppState;
use clinbridge_store::tasks::{self, Delivered};
use std::time::{Duration, Instant};

pub fn spawn_ticker(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_checkpoint = Instant::now();
        let mut interval = tokio::time::interval(state.config.tick_interval.max(Duration::from_millis(200)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            tick(&state).await;
            if last_checkpoint.elapsed() >= state.config.checkpoint_interval {
                last_checkpoint = Instant::now();
                if let Err(e) = clinbridge_store::audit::checkpoint(&state.store).await {
                    tracing::error!(error = %e, "audit checkpoint failed");
                }
            }
        }
    })
}

/// One pass: let the contexts raise the tasks time has brought due, then announce what went
/// overdue since the last pass.
pub async fn tick(state: &AppState) {
    if let Err(e) = clinbridge_store::trials::raise_irb_renewal_tasks(&state.store).await {
        tracing::error!(error = %e, "IRB renewal pass failed");
    }
    if let Err(e) = clinbridge_store::consent::raise_reconsent_tasks(&state.store).await {
        tracing::error!(error = %e, "re-consent pass failed");
    }
    if let Err(e) = clinbridge_store::scheduling::calendar::raise_window_closing_tasks(&state.store).await {
        tracing::error!(error = %e, "visit window pass failed");
    }
    let delivered = match tasks::announce_overdue(&state.store).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "overdue pass failed");
            return;
        }
    };
    for d in &delivered {
        if let Some(smtp) = &state.config.smtp {
            send_email(smtp, d).await;
        }
        if let Some(url) = &state.config.webhook_url {
            send_webhook(url, d).await;
        }
    }
}

async fn send_email(smtp: &crate::SmtpConfig, d: &Delivered) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url) {
        Ok(b) => b.build(),
        Err(e) => {
            tracing::error!(error = %e, "invalid SMTP URL");
            return;
        }
    };
    let Ok(from) = smtp.from.parse::<lettre::message::Mailbox>() else {
        tracing::error!("invalid SMTP sender address");
        return;
    };
    for (_, email, name) in &d.recipients {
        let Ok(to) = format!("{name} <{email}>").parse::<lettre::message::Mailbox>() else {
            continue;
        };
        let body = format!(
            "Hello {name},\n\nThis task on your Clinbridge work queue is overdue:\n\n  {}\n  due {} UTC\n\n{}\n",
            d.task.title,
            d.task.due_at.format("%Y-%m-%d %H:%M"),
            d.task.detail
        );
        let message =
            Message::builder().from(from.clone()).to(to).subject(format!("Overdue: {}", d.task.title)).body(body);
        match message {
            Ok(m) => {
                if let Err(e) = transport.send(m).await {
                    tracing::warn!(error = %e, "overdue e-mail not sent");
                }
            }
            Err(e) => tracing::warn!(error = %e, "overdue e-mail not built"),
        }
    }
}

async fn send_webhook(url: &str, d: &Delivered) {
    let payload = serde_json::json!({
        "event": "task.overdue",
        "text": format!("Overdue: {} (due {} UTC)", d.task.title, d.task.due_at.format("%Y-%m-%d %H:%M")),
        "task": {
            "id": d.task.id, "kind": d.task.kind, "title": d.task.title, "due_at": d.task.due_at,
            "subject_type": d.task.subject_type, "subject_id": d.task.subject_id,
        },
        "recipients": d.recipients.iter().map(|(_, email, name)| serde_json::json!({"email": email, "name": name})).collect::<Vec<_>>(),
    });
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build();
    match client {
        Ok(c) => match c.post(url).json(&payload).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "webhook refused the overdue notice"),
            Err(e) => tracing::warn!(error = %e, "webhook not reached"),
        },
        Err(e) => tracing::error!(error = %e, "webhook client"),
    }
}
