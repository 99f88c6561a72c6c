//! `berth --help`: the user's client commands and the operator's commands under two
//! headings (clap lists subcommands under one; the template is built from the commands, so
//! a new command cannot be left out).

use std::fmt::Write;

/// The operator's commands; every other subcommand is a client command.
pub const OPERATOR: &[&str] = &["up", "serve", "worker", "migrate", "admin", "audit", "bench"];

/// Gives the top-level command a help template with "Client commands" and "Operator
/// commands" sections.
pub fn group(cmd: clap::Command) -> clap::Command {
    let subs: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| (s.get_name().to_owned(), first_line(s.get_about().map(|a| a.to_string()).unwrap_or_default())))
        .chain(std::iter::once((
            "help".to_owned(),
            "Print this message or the help of the given command(s)".to_owned(),
        )))
        .collect();
    let width = subs.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let section = |title: &str, operator: bool| {
        let mut s = format!("{title}:\n");
        for (name, about) in subs.iter().filter(|(n, _)| OPERATOR.contains(&n.as_str()) == operator) {
            let _ = writeln!(s, "  {name:<width$}  {about}");
        }
        s
    };
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{}\n{}\nOptions:\n{{options}}{{after-help}}",
        section("Client commands", false),
        section("Operator commands", true),
    );
    cmd.help_template(template)
}

fn first_line(s: String) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}
