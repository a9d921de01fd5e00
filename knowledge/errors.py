"""Errors the knowledge base reports to its callers (the API turns them into 4xx answers)."""


class KnowledgeError(Exception):
    status = 400


class IntentNotFound(KnowledgeError):
    status = 404


class IntentExists(KnowledgeError):
    status = 409


class VersionConflict(KnowledgeError):
    status = 409


class ImportFormatError(KnowledgeError):
    status = 400
