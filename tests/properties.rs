//! Property tests: arbitrary input never panics the loader, and rendering a loaded table then
//! loading the rendering gives the same table.
