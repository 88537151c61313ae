//! The login page: a password form (a user name too when `DASHBOARD_USER` names one), with the
//! refusal's reason when the last attempt failed or was rate-limited.

use maud::{html, Markup};

/// The form, with `error` above it when there is one.
pub fn page(base: &str, user: &str, error: Option<&str>) -> Markup {
    super::bare(
        base,
        "Log in",
        html! {
            section.login {
                h1 { "hoox" }
                p.muted { "Operator console. Sessions end after inactivity; every action is audited under your name." }
                @if let Some(e) = error {
                    p.notice.bad role="alert" { (e) }
                }
                form method="post" action=(format!("{base}/login")) {
                    label { "User " input type="text" name="user" value=(user) autocomplete="username" required; }
                    label { "Password " input type="password" name="password" autocomplete="current-password" required autofocus; }
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}
