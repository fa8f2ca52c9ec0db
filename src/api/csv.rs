//! CSV bodies: imports read row by row as the body arrives (never the whole body at once), and
//! the per-row error report they answer with.

use axum::{
    body::Body,
    http::{HeaderMap, StatusCode, header},
};
use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use serde::Serialize;
use tokio_util::io::StreamReader;

use super::error::ApiError;
use crate::domain::{ErrorCode, FieldError};

/// Longest row an import takes, in bytes; a longer one is reported and skipped.
pub const MAX_ROW_BYTES: usize = 8 * 1024;
/// Most row errors listed in a report (all are counted).
const MAX_REPORTED_ERRORS: usize = 1_000;

type BodyReader =
    StreamReader<BoxStream<'static, std::io::Result<axum::body::Bytes>>, axum::body::Bytes>;

/// One failed row of an import.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// The data row, 1 being the first row after the header.
    pub row: u64,
    /// The line of the body the row starts on (the header is line 1).
    pub line: u64,
    /// The column at fault (its header), or null for the row as a whole.
    pub field: Option<String>,
    pub code: ErrorCode,
    pub reason: String,
}

/// The errors of an import, capped.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RowErrors {
    /// Rows refused; the others were kept.
    pub failed: u64,
    /// The first 1,000 of them.
    pub errors: Vec<RowError>,
    /// More rows failed than `errors` lists.
    pub errors_truncated: bool,
}

impl RowErrors {
    pub fn push(&mut self, row: &Row, error: FieldError) {
        self.failed += 1;
        if self.errors.len() >= MAX_REPORTED_ERRORS {
            self.errors_truncated = true;
            return;
        }
        self.errors.push(RowError {
            row: row.number,
            line: row.line,
            field: (!error.field.is_empty()).then_some(error.field),
            code: error.code,
            reason: error.message,
        });
    }
}

/// A data row: its cells as text (missing trailing cells are empty).
pub struct Row {
    pub number: u64,
    pub line: u64,
    pub cells: Vec<String>,
}

/// A CSV request body being read.
pub struct CsvBody {
    reader: csv_async::AsyncReader<BodyReader>,
    /// The header row, trimmed.
    pub header: Vec<String>,
    record: csv_async::ByteRecord,
    rows: u64,
}

/// Refuses a body not declared as CSV.
fn require_csv(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("text/csv") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the body as CSV with Content-Type: text/csv",
        )
        .field("Content-Type"))
    }
}

/// A failure reading the body itself: too large (413) or cut off (400).
fn body_error(e: &csv_async::Error) -> ApiError {
    let too_large = match e.kind() {
        csv_async::ErrorKind::Io(io) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> =
                io.get_ref().map(|e| e as _);
            let mut found = false;
            while let Some(err) = source {
                if err.is::<http_body_util::LengthLimitError>() {
                    found = true;
                    break;
                }
                source = err.source();
            }
            found
        }
        _ => false,
    };
    if too_large {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the server accepts; rows before the limit were \
             imported",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!("the CSV body could not be read: {e}"),
        )
        .field("body")
    }
}

impl CsvBody {
    /// Checks the content type and reads the header row, which must name `required` and no
    /// column twice.
    pub async fn open(headers: &HeaderMap, body: Body, required: &str) -> Result<Self, ApiError> {
        require_csv(headers)?;
        let stream = body
            .into_data_stream()
            .map_err(std::io::Error::other)
            .boxed();
        let mut reader = csv_async::AsyncReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .create_reader(StreamReader::new(stream));
        let header_row = reader
            .byte_headers()
            .await
            .map_err(|e| body_error(&e))?
            .clone();
        if header_row.is_empty() || header_row.iter().all(|h| h.is_empty()) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MissingField,
                format!("the CSV has no header row; its first line names the columns, e.g. {required},first_name"),
            )
            .field("header"));
        }
        let mut header = Vec::with_capacity(header_row.len());
        for (i, cell) in header_row.iter().enumerate() {
            let name = std::str::from_utf8(cell)
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidField,
                        format!("column {} of the header is not UTF-8", i + 1),
                    )
                    .field("header")
                })?
                .trim()
                .trim_start_matches('\u{feff}')
                .to_owned();
            if name.is_empty() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidField,
                    format!("column {} of the header has no name", i + 1),
                )
                .field("header"));
            }
            if header
                .iter()
                .any(|h: &String| h.eq_ignore_ascii_case(&name))
            {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidField,
                    format!("the header names column {name:?} twice"),
                )
                .field("header"));
            }
            header.push(name);
        }
        if !header.iter().any(|h| h.eq_ignore_ascii_case(required)) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MissingField,
                format!("the header has no {required:?} column"),
            )
            .field(required));
        }
        Ok(Self {
            reader,
            header,
            record: csv_async::ByteRecord::new(),
            rows: 0,
        })
    }

    /// The next data row, `Ok(None)` at the end. A row that cannot be read as cells (too long,
    /// more cells than the header, not UTF-8) is answered as `Err` with the row, to report.
    pub async fn next(&mut self) -> Result<Option<Result<Row, (Row, FieldError)>>, ApiError> {
        if !self
            .reader
            .read_byte_record(&mut self.record)
            .await
            .map_err(|e| body_error(&e))?
        {
            return Ok(None);
        }
        self.rows += 1;
        let mut row = Row {
            number: self.rows,
            line: self.record.position().map_or(0, |p| p.line()),
            cells: Vec::with_capacity(self.header.len()),
        };
        let refuse = |row, why: String| {
            Ok(Some(Err((
                row,
                FieldError::new(ErrorCode::InvalidField, "", why),
            ))))
        };
        if self.record.as_slice().len() > MAX_ROW_BYTES {
            return refuse(row, format!("the row is longer than {MAX_ROW_BYTES} bytes"));
        }
        if self.record.len() > self.header.len() {
            let why = format!(
                "the row has {} cells, the header {}",
                self.record.len(),
                self.header.len()
            );
            return refuse(row, why);
        }
        for (i, cell) in self.record.iter().enumerate() {
            match std::str::from_utf8(cell) {
                Ok(text) => row.cells.push(text.to_owned()),
                Err(_) => {
                    let column = self.header[i].clone();
                    return Ok(Some(Err((
                        row,
                        FieldError::new(ErrorCode::InvalidField, column, "the cell is not UTF-8"),
                    ))));
                }
            }
        }
        row.cells.resize(self.header.len(), String::new());
        Ok(Some(Ok(row)))
    }
}

/// Writes rows as CSV text (for exports).
pub fn csv_line<I, S>(cells: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(cells);
    writer.into_inner().unwrap_or_default()
}
