//! REDCap's formats: the data dictionary (CSV and the API's metadata JSON) and the CSV dialect
//! REDCap writes. The rules of the dictionary itself live in `clinbridge_core::edc`; this
//! module only turns files into rows and rows into files.

pub mod csv;
pub mod dictionary;
