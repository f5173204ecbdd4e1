"""Tests of qr.pdfstream: a valid PDF written sequentially, object by object."""

import io
import logging

import pypdf
import pytest

from qr.pdfstream import A4, PageContent, PdfStreamWriter, pdf_number


class WriteOnly:
    """A sink with write() only: no seek, no tell, like a socket or a pipe."""

    def __init__(self):
        self.chunks = []

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)


def two_page_pdf(out) -> int:
    writer = PdfStreamWriter(out)
    resources = writer.reserve()
    writer.write_object(resources, "<< >>")
    for shade in (0.2, 0.6):
        page = PageContent()
        page.fill_rgb(shade, shade, shade)
        page.fill_rect(100, 100, 200, 300)
        page.fill_rects([(0, 0, 10, 10), (10, 0, 10, 10)])
        page.line(0, 0, 595, 842, 1)
        writer.add_page(page.getvalue(), resources)
    return writer.finish({"Title": "多网融合信息公示牌"})


def test_pdf_number_is_compact():
    assert [pdf_number(v) for v in (0, 1.0, 2.5, 595.2756, -0.0001, 1 / 3)] == ["0", "1", "2.5", "595.276", "0", "0.333"]


def test_pdf_stream_writer_output_is_a_valid_pdf(caplog):
    out = io.BytesIO()
    with caplog.at_level(logging.WARNING):
        assert two_page_pdf(out) == 2
        reader = pypdf.PdfReader(io.BytesIO(out.getvalue()), strict=True)
        assert len(reader.pages) == 2
        assert [round(float(v)) for v in reader.pages[0].mediabox] == [0, 0, 595, 842]
        assert reader.metadata.title == "多网融合信息公示牌"
        assert b"0.2 0.2 0.2 rg" in reader.pages[0].get_contents().get_data()
    assert not caplog.records
    assert out.getvalue().startswith(b"%PDF-1.4") and out.getvalue().endswith(b"%%EOF\n")


def test_pdf_stream_writer_needs_no_seeking_and_is_deterministic():
    sink = WriteOnly()
    two_page_pdf(sink)
    again = io.BytesIO()
    two_page_pdf(again)
    assert b"".join(sink.chunks) == again.getvalue()
    assert len(sink.chunks) > 5


def test_pdf_stream_writer_xref_offsets_point_at_objects():
    out = io.BytesIO()
    two_page_pdf(out)
    data = out.getvalue()
    xref_at = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    lines = data[xref_at:].split(b"\n")
    count = int(lines[1].split()[1])
    for number, entry in enumerate(lines[3 : 2 + count], start=1):
        offset = int(entry[:10])
        assert data[offset:].startswith(b"%d 0 obj" % number)


def test_pdf_stream_writer_refuses_incomplete_documents():
    with PdfStreamWriter(io.BytesIO()) as writer, pytest.raises(ValueError, match="page"):
        writer.finish()
    with PdfStreamWriter(io.BytesIO()) as writer:
        forgotten = writer.reserve()
        writer.add_page(b"", forgotten)
        with pytest.raises(ValueError, match="never written"):
            writer.finish()


def test_pdf_stream_writer_refuses_unreserved_and_rewritten_objects():
    with PdfStreamWriter(io.BytesIO()) as writer:
        number = writer.reserve()
        writer.write_object(number, "<< >>")
        with pytest.raises(ValueError, match="already written"):
            writer.write_object(number, "<< >>")
        with pytest.raises(ValueError, match="never reserved"):
            writer.write_object(number + 1, "<< >>")


def test_a4_is_210_by_297_mm():
    assert [round(side / 72 * 25.4, 1) for side in A4] == [210.0, 297.0]
