/*
 * transfers.h — what the two ways a package arrives share (one request,
 * route_transfers.c; resumable tus uploads, route_uploads.c): turning a
 * received package into a transfer.
 */
#ifndef SAILO_TRANSFERS_H
#define SAILO_TRANSFERS_H

#include <stdint.h>

struct api_call;
struct db;
struct spool_file;

/*
 * Records a received package as a transfer; runs on a worker.  Per
 * principal, the same Idempotency-Key with the same bytes, or the same
 * bytes while the first transfer has not failed, answer 200 with the first
 * transfer, and the same key with other bytes 409; otherwise the spool file
 * becomes <spool>/<id>.pkg and the transfer and its audit event commit
 * together: 202.  Fills call's reply; consumes spool (the file stays only
 * when it is recorded).  id_out: the transfer answered with, or "".
 */
void	transfer_record(struct api_call *call, struct db *db,
	    struct spool_file *spool, const char *sha, uint64_t size,
	    const char *idempotency_key, const char *content_type,
	    const char *upload_id, const char *inbox_name, char id_out[37]);

#endif
