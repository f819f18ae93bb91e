"""OGC API – Features (Part 1 Core, GeoJSON): ``/collections/{id}/items`` with ``bbox``,
``limit`` and ``offset`` paging (``next`` links), for sections and detections."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy import func, select

from voirie.server.api.deps import ReaderDep, SessionDep
from voirie.server.api.params import parse_bbox
from voirie.server.models import DetectionRow, FrameRow
from voirie.server.queries import SectionFilter, count_sections, feature_collection, feature_texts

logger = logging.getLogger(__name__)
router = APIRouter(tags=["ogc-api-features"])

CONFORMANCE = ["http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
               "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
               "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"]
COLLECTIONS = {"sections": "Road sections with condition (PCI, 1–5 grade, confidence)",
               "detections": "Pavement damage detections at frame positions"}


def _collection(request: Request, cid: str) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {"id": cid, "title": cid, "description": COLLECTIONS[cid], "itemType": "feature",
            "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
            "links": [{"rel": "items", "type": "application/geo+json", "href": f"{base}/collections/{cid}/items"}]}


@router.get("/conformance", summary="OGC API conformance classes")
def conformance() -> dict[str, list[str]]:
    """OGC API conformance classes."""
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", summary="OGC API collections")
def collections(request: Request) -> dict[str, Any]:
    """OGC API collections."""
    base = str(request.base_url).rstrip("/")
    return {"links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}],
            "collections": [_collection(request, cid) for cid in COLLECTIONS]}


@router.get("/collections/{collection_id}", responses={404: {}}, summary="One OGC API collection")
def collection(collection_id: str, request: Request) -> dict[str, Any]:
    """One OGC API collection."""
    if collection_id not in COLLECTIONS:
        raise HTTPException(status_code=404, detail=f"no collection {collection_id!r}; have {sorted(COLLECTIONS)}")
    return _collection(request, collection_id)


def _links(request: Request, matched: int, returned: int, limit: int, offset: int) -> list[dict[str, str]]:
    links = [{"rel": "self", "type": "application/geo+json", "href": str(request.url)}]
    if offset + returned < matched:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"rel": "next", "type": "application/geo+json", "href": str(nxt)})
    return links


def _detection_items(session: SessionDep, bbox: tuple | None, limit: int, offset: int) -> tuple[str, int, int]:
    # Named columns, not the FrameRow entity: that would load the frame's record JSON per detection.
    query = (select(DetectionRow.detection_id, DetectionRow.record_id, DetectionRow.class_name,
                    DetectionRow.reviewed_class, DetectionRow.confidence, DetectionRow.review_status,
                    FrameRow.lon, FrameRow.lat, FrameRow.section_id, FrameRow.time_utc)
             .join(FrameRow, FrameRow.record_id == DetectionRow.record_id)
             .where(DetectionRow.reanalysed.is_(False)))  # the device's; re-analyses compare through model grades
    if bbox is not None:
        query = query.where(FrameRow.lon >= bbox[0], FrameRow.lat >= bbox[1], FrameRow.lon <= bbox[2],
                            FrameRow.lat <= bbox[3])
    matched = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(DetectionRow.detection_id).offset(offset).limit(limit)).all()
    features = [{"type": "Feature", "id": r.detection_id,
                 "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                 "properties": {"record_id": r.record_id, "section_id": r.section_id,
                                "class_name": r.reviewed_class or r.class_name, "confidence": r.confidence,
                                "review_status": r.review_status, "time_utc": r.time_utc.isoformat()}}
                for r in rows]
    return json.dumps(features), matched, len(rows)


@router.get("/collections/{collection_id}/items", responses={400: {}, 404: {}},
            summary="Features of a collection (GeoJSON), with bbox and paging")
def items(collection_id: str, request: Request, session: SessionDep, _: ReaderDep,
          bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat (CRS84)"),
          limit: int = Query(100, ge=1, le=10000), offset: int = Query(0, ge=0, le=10_000_000)) -> Response:
    """Features of a collection (GeoJSON), with bbox and paging."""
    if collection_id not in COLLECTIONS:
        raise HTTPException(status_code=404, detail=f"no collection {collection_id!r}")
    box = parse_bbox(bbox)
    if collection_id == "sections":
        f = SectionFilter(bbox=box)
        matched = count_sections(session, f)
        texts = feature_texts(session, f, limit=limit, offset=offset)
        extra = {"numberMatched": matched, "numberReturned": len(texts),
                 "links": _links(request, matched, len(texts), limit, offset)}
        return Response(feature_collection(texts, extra), media_type="application/geo+json")
    features, matched, returned = _detection_items(session, box, limit, offset)
    head = json.dumps({"numberMatched": matched, "numberReturned": returned,
                       "links": _links(request, matched, returned, limit, offset)})[1:-1]
    return Response(f'{{"type":"FeatureCollection",{head},"features":{features}}}',
                    media_type="application/geo+json")
