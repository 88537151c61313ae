//! The report as one self-contained HTML page (no external CSS, fonts, scripts or images), laid
//! out for A4 print: what Browser Rendering turns into the PDF, and what is served as `.html`
//! when no PDF could be made.
