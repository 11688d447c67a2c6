//! The report as people read it: the HTML page and its inline SVG figures.
pub mod charts;
mod html;
pub use html::render_html;
