-- wrk script: POST /v1/members with unique external ids (per wrk thread and
-- request), each with an Idempotency-Key, as a till would send them.
local key = os.getenv("PATRON_KEY")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
local threads = 0
setup = function(thread)
    threads = threads + 1
    thread:set("tid", threads .. "-" .. os.time())
end
local counter = 0
request = function()
    counter = counter + 1
    local ext = "bench-" .. tid .. "-" .. counter
    local body = '{"external_id":"' .. ext .. '","email":"' .. ext .. '@example.com",'
        .. '"first_name":"Bench","last_name":"Mark","consent":{"email":true}}'
    wrk.headers["Idempotency-Key"] = ext
    return wrk.format("POST", "/v1/members", nil, body)
end
