//! Column widths from the content and the terminal width: every column as
//! wide as its widest cell when they all fit, otherwise the columns that
//! can give most shrink first, down to a floor that keeps them readable,
//! and a cut cell ends in `…` so it never passes for a whole value.

/// One column: how wide its content wants to be and how narrow it may get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub desired: u16,
    pub min: u16,
}

impl Column {
    /// A column as wide as the widest of `header` and `cells`, never below
    /// `min` (nor above its content).
    pub fn fitting<'a>(header: &str, cells: impl IntoIterator<Item = &'a str>, min: u16) -> Column {
        let widest = cells
            .into_iter()
            .map(|c| c.chars().count())
            .chain(std::iter::once(header.chars().count()))
            .max()
            .unwrap_or(0);
        let desired = u16::try_from(widest).unwrap_or(u16::MAX);
        Column {
            desired,
            min: min.min(desired),
        }
    }
}

/// Widths for `columns` in `available` cells, one cell of spacing between
/// columns. `shrink` lists the steps taken while they do not fit: column
/// `i` gives up width down to `floor` (never below its own `min`), so a
/// wide column can give some, a narrow one some, then the wide one more.
pub fn fit(columns: &[Column], available: u16, shrink: &[(usize, u16)]) -> Vec<u16> {
    let mut widths: Vec<u16> = columns.iter().map(|c| c.desired).collect();
    let spacing = columns.len().saturating_sub(1) as u16;
    let total = |w: &[u16]| w.iter().map(|&x| u32::from(x)).sum::<u32>() + u32::from(spacing);
    for &(i, floor) in shrink {
        let over = total(&widths).saturating_sub(u32::from(available));
        if over == 0 {
            break;
        }
        let Some(column) = columns.get(i) else {
            continue;
        };
        let floor = floor.max(column.min);
        let give = u32::from(widths[i].saturating_sub(floor)).min(over) as u16;
        widths[i] -= give;
    }
    widths
}

/// `text` cut to `width` characters, ending in `…` when cut.
pub fn abbreviate(text: &str, width: u16) -> String {
    let width = usize::from(width);
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_fits_or_the_listed_columns_shrink_to_their_floor() {
        let cols = [
            Column {
                desired: 12,
                min: 8,
            },
            Column {
                desired: 40,
                min: 20,
            },
            Column {
                desired: 30,
                min: 10,
            },
        ];
        let order = [(1, 30), (2, 0), (1, 0)];
        assert_eq!(fit(&cols, 100, &order), vec![12, 40, 30]);
        assert_eq!(fit(&cols, 76, &order), vec![12, 32, 30]);
        assert_eq!(fit(&cols, 60, &order), vec![12, 30, 16]);
        assert_eq!(fit(&cols, 50, &order), vec![12, 26, 10]);
        assert_eq!(fit(&cols, 10, &order), vec![12, 20, 10]);
    }

    #[test]
    fn cuts_end_in_an_ellipsis() {
        assert_eq!(abbreviate("Meeting Room", 12), "Meeting Room");
        assert_eq!(abbreviate("Meeting Room", 8), "Meeting…");
        assert_eq!(
            Column::fitting("Zone", ["Kitchen", "Meeting Room"], 6),
            Column {
                desired: 12,
                min: 6
            }
        );
    }
}
