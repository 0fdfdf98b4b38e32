//! Styles, with and without color.
//!
//! `NO_COLOR` (no-color.org) turns colors off; every meaning carried by a
//! color is also carried by text or a symbol, and the remaining emphasis uses
//! modifiers (bold, reverse, underline) that survive a monochrome terminal.

use ratatui::style::{Color, Modifier, Style};

/// The symbol in front of the selected row: selection must not rest on
/// reverse video alone.
pub const SELECTED_SYMBOL: &str = "▶ ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Theme { color: true }
    }
}

impl Theme {
    /// Colors unless the `NO_COLOR` variable is set to anything non-empty.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    fn colored(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn header(&self) -> Style {
        self.colored(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn ok(&self) -> Style {
        self.colored(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.colored(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn bad(&self) -> Style {
        self.colored(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn accent(&self) -> Style {
        self.colored(Color::Magenta).add_modifier(Modifier::BOLD)
    }

    pub fn bar(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Blue).fg(Color::White)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn key(&self) -> Style {
        self.colored(Color::Yellow).add_modifier(Modifier::BOLD)
    }
}
