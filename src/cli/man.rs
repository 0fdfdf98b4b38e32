//! `officemesh man`: the man page (roff) generated from the clap
//! definitions, with every subcommand's options in it.

use std::io::Write;

use anyhow::Context;

/// Writes officemesh(1) to stdout, e.g. to `/usr/share/man/man1/officemesh.1`.
pub fn run(command: clap::Command) -> anyhow::Result<()> {
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        writeln!(page, ".SH \"OFFICEMESH {}\"", name.to_uppercase())?;
        let sub_man = clap_mangen::Man::new(sub.clone().bin_name(format!("officemesh {name}")));
        sub_man.render_synopsis_section(&mut page)?;
        sub_man.render_description_section(&mut page)?;
        sub_man.render_options_section(&mut page)?;
    }
    man.render_version_section(&mut page)?;
    std::io::stdout()
        .write_all(&page)
        .context("writing the man page")
}
