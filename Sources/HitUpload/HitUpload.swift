// HitUpload: HTTPS upload of sealed hit records from the outbox (issue 6). See Uploader.swift.
