//! `officemesh completions SHELL`: a completion script generated from the
//! clap definitions, so it never falls behind the commands.

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Writes the script to stdout, e.g. to
/// `/usr/share/bash-completion/completions/officemesh`.
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> anyhow::Result<()> {
    let name = command.get_name().to_string();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(())
}
