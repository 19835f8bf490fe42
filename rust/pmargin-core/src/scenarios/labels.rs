//! Readable scenario names, e.g. `BTC -15.0% vol +30%`; `ALL ...` for a joint scenario.
//! Same rules as `pmargin.models.scenario_label`.

use crate::scenarios::VolShockMode;

pub fn scenario_label(underlying: Option<&str>, price_shock: f64, vol_shock: f64, mode: VolShockMode) -> String {
    let mut vol = format!("{:+.1}", vol_shock * 100.0);
    if vol.ends_with(".0") {
        vol.truncate(vol.len() - 2);
    }
    let unit = match mode {
        VolShockMode::Relative => "%",
        VolShockMode::Absolute => "pt",
    };
    format!("{} {:+.1}% vol {vol}{unit}", underlying.unwrap_or("ALL"), price_shock * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_python_package() {
        assert_eq!(scenario_label(Some("BTC"), -0.15, 0.3, VolShockMode::Relative), "BTC -15.0% vol +30%");
        assert_eq!(scenario_label(None, 0.015, 0.0, VolShockMode::Relative), "ALL +1.5% vol +0%");
        assert_eq!(scenario_label(Some("ETH"), 0.0, -0.05, VolShockMode::Absolute), "ETH +0.0% vol -5pt");
        assert_eq!(scenario_label(Some("X"), 0.0125, 0.125, VolShockMode::Relative), "X +1.2% vol +12.5%");
    }
}
