/* cdef/classify.h - the read-side rules of one packet, and its packed result
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* Verdicts of tt_classify (the seed's read-side rules). */
enum {
    TT_PKT_OK = 0,
    TT_PKT_SHORT_READ = 1,   /* nothing was read */
    TT_PKT_TRUNCATED = 2,    /* shorter than its own header or length fields */
    TT_PKT_NOT_IP = 3        /* TUN packet whose first nibble is not 4 or 6 */
};

/*
 * A classification is packed into one non-negative int64_t so that the hot
 * path needs no out-parameters (and no allocation in Python):
 *   bits  0..31  body length (bytes of the packet that belong to it)
 *   bits 32..47  protocol (IP EtherType for TUN, the frame's EtherType for TAP)
 *   bits 48..55  verdict (TT_PKT_*)
 */
enum {
    TT_PACK_PROTO_SHIFT = 32,
    TT_PACK_VERDICT_SHIFT = 48
};

/* ---- classify.c: the seed's read-side rules on any bytes -------------- */

/* The packed classification of the len bytes at buf read from a device of
 * kind (TT_KIND_*): -EINVAL for another kind, NULL with len, or len over
 * 2^32 - 1. */
int64_t tt_classify(const char *buf, size_t len, int kind);
