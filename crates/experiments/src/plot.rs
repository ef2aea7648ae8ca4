//! Small PNG charts for the experiments (on the `plotters` bitmap back-end):
//! line charts with several named series (optionally a log2 x axis) and grouped
//! or stacked bar charts.
//!
//! ```no_run
//! use experiments::plot::{LineChart, Series};
//! # fn main() -> anyhow::Result<()> {
//! let chart = LineChart {
//!     title: "SPS".into(),
//!     x_label: "swaps per transaction".into(),
//!     y_label: "swaps/µs".into(),
//!     log2_x: true,
//!     series: vec![Series::new("clwb", vec![(1.0, 1.3), (2.0, 2.5)])],
//!     ..Default::default()
//! };
//! chart.save_png("sps.png")?;
//! # Ok(()) }
//! ```

use anyhow::{Context, Result, bail};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// One named line of a [`LineChart`].
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// (x, y) points, drawn in order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from a name and its points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// A line chart with several series, markers on the points and a legend.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// Title above the chart.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic (base 2) x axis; x values must be > 0.
    pub log2_x: bool,
    /// Start the y axis at 0 (else at the smallest value, with a margin).
    pub y_from_zero: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Image size in pixels.
    pub size: (u32, u32),
    /// Draw a marker on every point (turn off for long series).
    pub markers: bool,
}

impl Default for LineChart {
    fn default() -> Self {
        LineChart {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            log2_x: false,
            y_from_zero: true,
            series: Vec::new(),
            size: (1000, 650),
            markers: true,
        }
    }
}

/// Colours of successive series.
pub fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

fn bounds(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    v.filter(|x| x.is_finite()).fold(None, |acc, x| match acc {
        None => Some((x, x)),
        Some((a, b)) => Some((a.min(x), b.max(x))),
    })
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing {}: {e}", path.display())
}

/// The font every chart's text is drawn in (DejaVu Sans, see `fonts/README.md`),
/// compiled in so that drawing needs no system font library.
const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// Registers [`FONT`] as plotters' "sans-serif" family, once per process.
fn register_font_once() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if !ok {
        bail!("the bundled font fonts/DejaVuSans.ttf is not a valid TrueType font");
    }
    Ok(())
}

#[cfg(test)]
mod font_tests {
    use plotters::style::IntoFont;

    #[test]
    fn the_bundled_font_lays_out_text() {
        super::register_font_once().unwrap();
        let font = ("sans-serif", 20).into_font();
        let (w, h) = font.box_size("swaps per transaction").unwrap();
        assert!(w > 100 && h > 10, "text box {w}x{h}");
    }
}

/// A white canvas of `size` pixels that is saved to the PNG file `path`.
fn canvas(path: &Path, size: (u32, u32)) -> Result<DrawingArea<BitMapBackend<'_>, Shift>> {
    register_font_once()?;
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    Ok(root)
}

/// The y axis range for data spanning `y0..=y1`: from 0 (or a little below
/// `y0`) to a little above `y1`.
fn y_range((y0, y1): (f64, f64), from_zero: bool) -> (f64, f64) {
    let y1 = if y1 <= y0 { y0 + 1.0 } else { y1 };
    let ylo = if from_zero {
        0f64.min(y0)
    } else {
        y0 - 0.05 * (y1 - y0)
    };
    (ylo, y1 + 0.08 * (y1 - ylo))
}

/// The fonts of axis descriptions and tick labels, the same on every chart.
fn axis_fonts<'m, 'a, 'b, 'c, X, Y>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, BitMapBackend<'c>>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, BitMapBackend<'c>>
where
    X: Ranged,
    Y: Ranged,
{
    mesh.axis_desc_style(("sans-serif", 20))
        .label_style(("sans-serif", 16))
}

/// Draws the legend box (labels in a `font`-pixel font) at `position`.
fn draw_legend<'a, 'b: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, CT>,
    path: &Path,
    font: u32,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font))
        .position(position)
        .draw()
        .map_err(|e| plot_err(path, e))
}

impl LineChart {
    /// Draws the chart into a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let pts = || self.series.iter().flat_map(|s| s.points.iter());
        let Some((x0, x1)) = bounds(pts().map(|p| p.0)) else {
            bail!("{}: nothing to plot", path.display());
        };
        let (y0, y1) = bounds(pts().map(|p| p.1)).unwrap_or((0.0, 1.0));
        let (ylo, yhi) = y_range((y0, y1), self.y_from_zero);
        let root = canvas(path, self.size)?;
        let mut b = ChartBuilder::on(&root);
        b.caption(&self.title, ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(75);
        if self.log2_x {
            if x0 <= 0.0 {
                bail!("{}: log2 x axis needs x > 0", path.display());
            }
            let (lo, hi) = (x0 / 1.3, x1 * 1.3);
            let mut chart = b
                .build_cartesian_2d((lo..hi).log_scale().base(2.0), ylo..yhi)
                .map_err(|e| plot_err(path, e))?;
            let powers = |x: &f64| format!("{}", x.round());
            self.draw_body(
                &mut chart,
                path,
                Some(&powers),
                SeriesLabelPosition::UpperLeft,
            )?;
        } else {
            let pad = if x1 > x0 { 0.02 * (x1 - x0) } else { 1.0 };
            let mut chart = b
                .build_cartesian_2d((x0 - pad)..(x1 + pad), ylo..yhi)
                .map_err(|e| plot_err(path, e))?;
            self.draw_body(&mut chart, path, None, SeriesLabelPosition::UpperRight)?;
        }
        root.present()
            .map_err(|e| plot_err(path, e))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Axes (x labels through `x_fmt` if given), series and legend (at
    /// `legend`) on a chart whose coordinates are built.
    fn draw_body<'a, 'b: 'a, X, Y>(
        &self,
        chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>,
        path: &Path,
        x_fmt: Option<&dyn Fn(&f64) -> String>,
        legend: SeriesLabelPosition,
    ) -> Result<()>
    where
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(&self.x_label).y_desc(&self.y_label);
        if let Some(f) = x_fmt {
            mesh.x_label_formatter(f);
        }
        axis_fonts(&mut mesh)
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (i, s) in self.series.iter().enumerate() {
            let c = palette(i);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(3)))
                .map_err(|e| plot_err(path, e))?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
                });
            if !self.markers {
                continue;
            }
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 4, c.filled())),
                )
                .map_err(|e| plot_err(path, e))?;
        }
        draw_legend(chart, path, 18, legend)
    }
}

/// A bar chart: one group of bars per category, one bar per series (grouped),
/// or the series stacked into one bar per category.
#[derive(Clone, Debug)]
pub struct BarChart {
    /// Title above the chart.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// Category labels along x.
    pub categories: Vec<String>,
    /// (series name, one value per category).
    pub series: Vec<(String, Vec<f64>)>,
    /// Stack the series instead of placing them side by side.
    pub stacked: bool,
    /// Image size in pixels.
    pub size: (u32, u32),
}

impl Default for BarChart {
    fn default() -> Self {
        BarChart {
            title: String::new(),
            y_label: String::new(),
            categories: Vec::new(),
            series: Vec::new(),
            stacked: false,
            size: (1000, 650),
        }
    }
}

impl BarChart {
    /// Draws the chart into a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let nc = self.categories.len();
        if nc == 0 || self.series.is_empty() {
            bail!("{}: nothing to plot", path.display());
        }
        if let Some((name, _)) = self.series.iter().find(|(_, v)| v.len() != nc) {
            bail!(
                "{}: series {name} does not have {nc} values",
                path.display()
            );
        }
        let ymax = if self.stacked {
            (0..nc)
                .map(|c| self.series.iter().map(|(_, v)| v[c].max(0.0)).sum::<f64>())
                .fold(0.0, f64::max)
        } else {
            self.series
                .iter()
                .flat_map(|(_, v)| v.iter().copied())
                .fold(0.0, f64::max)
        };
        let ymax = if ymax > 0.0 { ymax * 1.15 } else { 1.0 };
        let root = canvas(path, self.size)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 26))
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(75)
            .build_cartesian_2d(0f64..nc as f64, 0f64..ymax)
            .map_err(|e| plot_err(path, e))?;
        let cats = self.categories.clone();
        axis_fonts(
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(nc * 2 + 1)
                .x_label_formatter(&move |x| {
                    let i = x.floor() as usize;
                    if (x - x.floor() - 0.5).abs() < 0.01 && i < cats.len() {
                        cats[i].clone()
                    } else {
                        String::new()
                    }
                })
                .y_desc(&self.y_label),
        )
        .draw()
        .map_err(|e| plot_err(path, e))?;
        let ns = self.series.len();
        let mut base = vec![0.0; nc];
        for (si, (name, vals)) in self.series.iter().enumerate() {
            let c = palette(si);
            let bars: Vec<Rectangle<(f64, f64)>> = (0..nc)
                .map(|ci| {
                    let (x0, x1, y0, y1) = if self.stacked {
                        let y0 = base[ci];
                        base[ci] += vals[ci].max(0.0);
                        (ci as f64 + 0.15, ci as f64 + 0.85, y0, base[ci])
                    } else {
                        let w = 0.7 / ns as f64;
                        let x0 = ci as f64 + 0.15 + w * si as f64;
                        (x0, x0 + w, 0.0, vals[ci].max(0.0))
                    };
                    Rectangle::new([(x0, y0), (x1, y1)], c.filled())
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(|e| plot_err(path, e))?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
        }
        draw_legend(&mut chart, path, 18, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(|e| plot_err(path, e))
    }
}

/// One panel of a [`PanelChart`]: its own y axis and series.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Y axis label.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Relative height (panels share the image height in these proportions).
    pub weight: u32,
    /// Draw a marker on every point.
    pub markers: bool,
    /// Join the points with lines (turn off, with markers on, for data with
    /// gaps that a line would bridge).
    pub lines: bool,
    /// Start the y axis at 0.
    pub y_from_zero: bool,
}

impl Default for Panel {
    fn default() -> Self {
        Panel {
            y_label: String::new(),
            series: Vec::new(),
            weight: 1,
            markers: false,
            lines: true,
            y_from_zero: true,
        }
    }
}

/// Panels stacked vertically over one shared x axis (e.g. a loss curve over an
/// on/off state curve).
#[derive(Clone, Debug)]
pub struct PanelChart {
    /// Title above the panels.
    pub title: String,
    /// X axis label (drawn under the last panel).
    pub x_label: String,
    /// The panels, top first.
    pub panels: Vec<Panel>,
    /// Image size in pixels.
    pub size: (u32, u32),
}

impl Default for PanelChart {
    fn default() -> Self {
        PanelChart {
            title: String::new(),
            x_label: String::new(),
            panels: Vec::new(),
            size: (1000, 700),
        }
    }
}

impl PanelChart {
    /// Draws the chart into a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let all = || {
            self.panels
                .iter()
                .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter()))
        };
        let Some((x0, x1)) = bounds(all().map(|p| p.0)) else {
            bail!("{}: nothing to plot", path.display());
        };
        let pad = if x1 > x0 { 0.01 * (x1 - x0) } else { 1.0 };
        let root = canvas(path, self.size)?
            .titled(&self.title, ("sans-serif", 26))
            .map_err(|e| plot_err(path, e))?;
        let total: u32 = self.panels.iter().map(|p| p.weight.max(1)).sum();
        let height = root.dim_in_pixel().1;
        let mut rest = root;
        let n = self.panels.len();
        for (i, p) in self.panels.iter().enumerate() {
            let area = if i + 1 == n {
                rest.clone()
            } else {
                let h = height * p.weight.max(1) / total;
                let (top, bottom) = rest.split_vertically(h);
                rest = bottom;
                top
            };
            let ys = bounds(p.series.iter().flat_map(|s| s.points.iter().map(|q| q.1)))
                .unwrap_or((0.0, 1.0));
            let (ylo, yhi) = y_range(ys, p.y_from_zero);
            let last = i + 1 == n;
            let mut chart = ChartBuilder::on(&area)
                .margin(15)
                .x_label_area_size(if last { 50 } else { 20 })
                .y_label_area_size(75)
                .build_cartesian_2d((x0 - pad)..(x1 + pad), ylo..yhi)
                .map_err(|e| plot_err(path, e))?;
            let mut mesh = chart.configure_mesh();
            axis_fonts(mesh.y_desc(&p.y_label)).y_labels(if p.weight <= 1 { 3 } else { 8 });
            if last {
                mesh.x_desc(&self.x_label);
            }
            mesh.draw().map_err(|e| plot_err(path, e))?;
            for (si, s) in p.series.iter().enumerate() {
                let c = palette(si + 3 * i);
                let lines: Vec<(f64, f64)> = if p.lines {
                    s.points.clone()
                } else {
                    Vec::new()
                };
                chart
                    .draw_series(LineSeries::new(lines, c.stroke_width(2)))
                    .map_err(|e| plot_err(path, e))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3))
                    });
                if p.markers || !p.lines {
                    chart
                        .draw_series(
                            s.points
                                .iter()
                                .map(|&(x, y)| Circle::new((x, y), 2, c.filled())),
                        )
                        .map_err(|e| plot_err(path, e))?;
                }
            }
            draw_legend(&mut chart, path, 16, SeriesLabelPosition::UpperRight)?;
        }
        rest.present()
            .map_err(|e| plot_err(path, e))
            .with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_png(p: &Path) -> bool {
        std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x89PNG"))
    }

    #[test]
    fn line_and_bar_charts_write_pngs() {
        let d = tempfile::tempdir().unwrap();
        let l = d.path().join("l.png");
        LineChart {
            title: "t".into(),
            log2_x: true,
            series: vec![
                Series::new("a", vec![(1.0, 1.0), (4.0, 3.0), (2048.0, 2.0)]),
                Series::new("b", vec![(1.0, 0.5), (2048.0, 1.0)]),
            ],
            ..Default::default()
        }
        .save_png(&l)
        .unwrap();
        assert!(is_png(&l));
        let b = d.path().join("b.png");
        for stacked in [false, true] {
            BarChart {
                title: "bars".into(),
                categories: vec!["x".into(), "y".into()],
                series: vec![("s1".into(), vec![1.0, 2.0]), ("s2".into(), vec![0.5, 1.5])],
                stacked,
                ..Default::default()
            }
            .save_png(&b)
            .unwrap();
            assert!(is_png(&b));
        }
        let pc = d.path().join("p.png");
        PanelChart {
            title: "panels".into(),
            x_label: "x".into(),
            panels: vec![
                Panel {
                    series: vec![Series::new(
                        "loss",
                        vec![(0.0, 2.0), (1.0, 1.0), (3.0, 0.5)],
                    )],
                    weight: 3,
                    ..Default::default()
                },
                Panel {
                    series: vec![Series::new(
                        "up",
                        vec![(0.0, 1.0), (2.0, 1.0), (2.0, 0.0), (3.0, 0.0)],
                    )],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
        .save_png(&pc)
        .unwrap();
        assert!(is_png(&pc));
        assert!(
            PanelChart::default()
                .save_png(d.path().join("e2.png"))
                .is_err()
        );
        let empty = LineChart::default().save_png(d.path().join("e.png"));
        assert!(empty.is_err());
    }
}
