//! `ssad eval --plot`: the ROC curve and the score histograms per class, one PNG.

use std::ops::Range;
use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use ssad_eval::RocCurve;

use crate::font::{self, Anchor};

const SIZE: (u32, u32) = (1200, 520);
const NORMAL: RGBColor = RGBColor(31, 119, 180);
const ANOMALY: RGBColor = RGBColor(214, 39, 40);
const GRID: RGBColor = RGBColor(225, 225, 225);
const TEXT_SCALE: i32 = 2;
const BINS: usize = 40;

type Chart<'a> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

pub fn draw(
    path: &Path,
    roc: &RocCurve,
    auroc: f64,
    scores: &[f64],
    labels: &[bool],
) -> Result<()> {
    let plot_err = |e: DrawingAreaErrorKind<_>| anyhow!("cannot draw {}: {e}", path.display());
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    draw_roc(&root, &left, roc, auroc).map_err(plot_err)?;
    draw_histograms(&root, &right, scores, labels).map_err(plot_err)?;
    root.present().map_err(plot_err)?;
    Ok(())
}

type DrawResult<'a> =
    Result<(), DrawingAreaErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>>;

fn chart<'a>(
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    x: Range<f64>,
    y: Range<f64>,
) -> Result<Chart<'a>, DrawingAreaErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>> {
    ChartBuilder::on(area)
        .margin_left(90)
        .margin_right(35)
        .margin_top(60)
        .margin_bottom(60)
        .build_cartesian_2d(x, y)
}

/// Ticks at evenly spaced values with labels, a frame, and axis titles; all text
/// goes through [`font`] on the root area, in absolute pixels.
fn axes<'a>(
    root: &DrawingArea<BitMapBackend<'a>, Shift>,
    chart: &Chart<'a>,
    x: Range<f64>,
    y: Range<f64>,
    (x_title, y_title): (&str, &str),
) -> DrawResult<'a> {
    const TICKS: usize = 5;
    let tick = |r: &Range<f64>, i: usize| r.start + (r.end - r.start) * i as f64 / TICKS as f64;
    let grid = ShapeStyle::from(&GRID).stroke_width(1);
    for i in 0..=TICKS {
        let (xv, yv) = (tick(&x, i), tick(&y, i));
        chart
            .plotting_area()
            .draw(&PathElement::new(vec![(xv, y.start), (xv, y.end)], grid))?;
        chart
            .plotting_area()
            .draw(&PathElement::new(vec![(x.start, yv), (x.end, yv)], grid))?;
        let (px, py) = chart.backend_coord(&(xv, y.start));
        font::draw(
            root,
            &number(xv),
            (px, py + 8),
            Anchor::TopCenter,
            TEXT_SCALE,
            BLACK,
        )?;
        let (px, py) = chart.backend_coord(&(x.start, yv));
        font::draw(
            root,
            &number(yv),
            (px - 8, py),
            Anchor::RightMiddle,
            TEXT_SCALE,
            BLACK,
        )?;
    }
    let frame = vec![
        (x.start, y.start),
        (x.end, y.start),
        (x.end, y.end),
        (x.start, y.end),
        (x.start, y.start),
    ];
    chart
        .plotting_area()
        .draw(&PathElement::new(frame, BLACK.stroke_width(1)))?;
    let (x_mid, _) = chart.backend_coord(&((x.start + x.end) / 2.0, y.start));
    let (_, bottom) = chart.backend_coord(&(x.start, y.start));
    font::draw(
        root,
        x_title,
        (x_mid, bottom + 30),
        Anchor::TopCenter,
        TEXT_SCALE,
        BLACK,
    )?;
    let (left, top) = chart.backend_coord(&(x.start, y.end));
    font::draw(
        root,
        y_title,
        (left - 80, top - 28),
        Anchor::TopLeft,
        TEXT_SCALE,
        BLACK,
    )?;
    Ok(())
}

/// Tick labels short enough for the font: 3 significant digits, scientific when large or tiny.
fn number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-2..1e4).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn draw_roc<'a>(
    root: &DrawingArea<BitMapBackend<'a>, Shift>,
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    roc: &RocCurve,
    auroc: f64,
) -> DrawResult<'a> {
    let mut chart = chart(area, 0.0..1.0, 0.0..1.0)?;
    axes(
        root,
        &chart,
        0.0..1.0,
        0.0..1.0,
        ("FALSE POSITIVE RATE", "TRUE POSITIVE RATE"),
    )?;
    chart.draw_series(LineSeries::new(
        [(0.0, 0.0), (1.0, 1.0)],
        RGBColor(150, 150, 150).stroke_width(1),
    ))?;
    chart.draw_series(LineSeries::new(
        roc.fpr.iter().copied().zip(roc.tpr.iter().copied()),
        ANOMALY.stroke_width(2),
    ))?;
    let (x0, _) = area.get_base_pixel();
    let (w, _) = area.dim_in_pixel();
    font::draw(
        root,
        &format!("ROC  AUROC {auroc:.4}"),
        (x0 + w as i32 / 2, 14),
        Anchor::TopCenter,
        TEXT_SCALE,
        BLACK,
    )
}

/// Per-class histograms over shared bins, as fractions of each class so a small
/// anomaly class stays visible next to a large normal one.
fn draw_histograms<'a>(
    root: &DrawingArea<BitMapBackend<'a>, Shift>,
    area: &DrawingArea<BitMapBackend<'a>, Shift>,
    scores: &[f64],
    labels: &[bool],
) -> DrawResult<'a> {
    let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    let bin_width = span / BINS as f64;
    let mut counts = [[0usize; BINS]; 2];
    for (&s, &l) in scores.iter().zip(labels) {
        let bin = (((s - lo) / bin_width) as usize).min(BINS - 1);
        counts[usize::from(l)][bin] += 1;
    }
    let totals = [0, 1].map(|c| counts[c].iter().sum::<usize>().max(1) as f64);
    let fractions = [0, 1].map(|c| counts[c].map(|n| n as f64 / totals[c]));
    let top = fractions.iter().flatten().copied().fold(0.0, f64::max) * 1.1;
    let x = lo..lo + span;
    let y = 0.0..top.max(1e-9);
    let mut chart = chart(area, x.clone(), y.clone())?;
    axes(root, &chart, x, y, ("SCORE", "FRACTION OF CLASS"))?;
    for (class, color) in [(0, NORMAL), (1, ANOMALY)] {
        chart.draw_series(
            fractions[class]
                .iter()
                .enumerate()
                .filter(|(_, &f)| f > 0.0)
                .map(|(b, &f)| {
                    let left = lo + b as f64 * bin_width;
                    Rectangle::new(
                        [(left, 0.0), (left + bin_width, f)],
                        color.mix(0.5).filled(),
                    )
                }),
        )?;
    }
    let (x0, _) = area.get_base_pixel();
    let (w, _) = area.dim_in_pixel();
    let n_normal = labels.iter().filter(|&&l| !l).count();
    let legend = [
        (NORMAL, format!("NORMAL ({n_normal})")),
        (ANOMALY, format!("ANOMALY ({})", labels.len() - n_normal)),
    ];
    let mut cursor = x0 + w as i32 / 2 - 170;
    for (color, text) in legend {
        root.draw(&Rectangle::new(
            [(cursor, 14), (cursor + 14, 28)],
            color.mix(0.5).filled(),
        ))?;
        font::draw(
            root,
            &text,
            (cursor + 22, 14),
            Anchor::TopLeft,
            TEXT_SCALE,
            BLACK,
        )?;
        cursor += 22 + font::width(&text, TEXT_SCALE) + 30;
    }
    Ok(())
}
