//! The terms that make a contract an option: call or put, and the barrier kind. They are part
//! of an instrument (read from its table) and are what the pricing formulas take.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionType {
    Call,
    Put,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierType {
    DownIn,
    DownOut,
    UpIn,
    UpOut,
}

impl BarrierType {
    pub const ALL: [BarrierType; 4] =
        [BarrierType::DownIn, BarrierType::DownOut, BarrierType::UpIn, BarrierType::UpOut];

    /// From the instruments column's spelling: `down-and-in`, `down-and-out`, `up-and-in`,
    /// `up-and-out`.
    pub fn parse(text: &str) -> Option<BarrierType> {
        match text {
            "down-and-in" => Some(BarrierType::DownIn),
            "down-and-out" => Some(BarrierType::DownOut),
            "up-and-in" => Some(BarrierType::UpIn),
            "up-and-out" => Some(BarrierType::UpOut),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BarrierType::DownIn => "down-and-in",
            BarrierType::DownOut => "down-and-out",
            BarrierType::UpIn => "up-and-in",
            BarrierType::UpOut => "up-and-out",
        }
    }

    /// The barrier is below the spot.
    pub fn is_down(self) -> bool {
        matches!(self, BarrierType::DownIn | BarrierType::DownOut)
    }

    /// The option comes alive when the barrier is hit.
    pub fn is_knock_in(self) -> bool {
        matches!(self, BarrierType::DownIn | BarrierType::UpIn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrier_types_round_trip_their_spelling() {
        for b in BarrierType::ALL {
            assert_eq!(BarrierType::parse(b.as_str()), Some(b));
        }
        assert_eq!(BarrierType::parse("up-and-away"), None);
        let flags: Vec<(bool, bool)> = BarrierType::ALL.iter().map(|b| (b.is_down(), b.is_knock_in())).collect();
        assert_eq!(flags, vec![(true, true), (true, false), (false, true), (false, false)]);
    }
}
