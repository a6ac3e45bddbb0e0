/*
 * csv.h — writing CSV (RFC 4180) for exports people open in spreadsheets.
 *
 * Cells are quoted only when they must be (a comma, a double quote, CR or
 * LF inside), quotes are doubled, and records end with CRLF as the RFC says.
 * Text is passed through as UTF-8; the caller decides whether to start the
 * file with a byte order mark (herald does not).
 *
 * Formula injection: a spreadsheet runs a cell that starts with = + - or @
 * (and some also a TAB or CR) as a formula, so a message title such as
 * "=HYPERLINK(…)" written by anyone could act on the reader's machine. With
 * guard set, such a cell gets a leading single quote, which spreadsheets
 * show as text. Cells the server generates in a fixed format (numbers,
 * dates, E.164 phone numbers) are written unguarded.
 */
#ifndef HERALD_CORE_CSV_H
#define HERALD_CORE_CSV_H

#include <stdbool.h>

#include "core/buf.h"

/* Appends one cell (NULL is an empty cell). Returns 0 or HERR_NOMEM. */
int hcsv_cell(hbuf *b, const char *s, bool guard);

/* Appends the separator before the next cell (a comma). */
int hcsv_sep(hbuf *b);

/* Ends a record (CRLF). */
int hcsv_end(hbuf *b);

#endif
