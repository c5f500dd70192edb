import json, hashlib, os, sys
out = sys.argv[1]
BASE = "2026-11-25T09:%02d:%02d.%06dZ"

def ts(m, s, us=0): return BASE % (m, s, us)

def line(run, seq, t, kind, status="ok", code=None, detail=None, dur=None, sizes=None, res=None, attrs=None, trace="4bf92f3577b34da6a3ce929d0e0e4736", span=None, span_name=None, service="retriever"):
    d = {"v":1,"run_id":run,"seq":seq,"ts":t,"kind":kind,"status":status}
    if code: d["error_code"]=code
    if detail: d["detail"]=detail
    if dur is not None: d["duration_ms"]=dur
    if sizes: d["sizes"]=sizes
    if res: d["resources"]=res
    if attrs: d["attrs"]=attrs
    if trace: d["trace_id"]=trace
    d["span_id"]= span or hashlib.sha256(f"{run}{seq}".encode()).hexdigest()[:16]
    if span_name: d["span_name"]=span_name
    if service: d["service"]=service
    d["event_id"]=hashlib.sha256(f"{run}/{seq}/{kind}".encode()).hexdigest()[:32]
    return json.dumps(d, separators=(",",":"), ensure_ascii=False)

def write(name, lines, tail=""):
    with open(os.path.join(out, name + ".jsonl"), "w") as f:
        for l in lines: f.write(l + "\n")
        f.write(tail)

def healthy_prefix(run, upto="all", m=0):
    """run.start + stages; returns list and next seq"""
    L = []
    L.append(line(run,1,ts(m,0,0),"run.start",detail="query: where is the retry policy configured?",attrs={"query_id":"q-17"},span_name="retrieve"))
    if upto=="start": return L
    L.append(line(run,2,ts(m,0,120000),"embed.vllm",dur=118.4,sizes={"vectors":1,"tokens":12},res={"model":"BAAI/bge-large-en-v1.5","endpoint":"http://vllm:8000"},span_name="embed"))
    if upto=="embed": return L
    L.append(line(run,3,ts(m,0,140000),"ann.faiss.search",detail="top-k search",dur=12.5,sizes={"hits":50},res={"index_path":"/data/index/code.faiss","index_version":"v3"},attrs={"nprobe":16,"k":50},span_name="faiss.search"))
    if upto=="ann": return L
    L.append(line(run,4,ts(m,0,180000),"hydrate.duckdb",dur=35.25,sizes={"rows":50},res={"table":"chunks","db":"/data/code.duckdb"},span_name="hydrate"))
    if upto=="hydrate": return L
    L.append(line(run,5,ts(m,0,260000),"git.blame",dur=71.0,sizes={"files":7},res={"repo":"github.com/acme/api"},span_name="blame"))
    if upto=="git": return L
    L.append(line(run,6,ts(m,0,300000),"retrieval.hybrid",dur=3.1,sizes={"hits":20},res={"index_version":"v3"},attrs={"channels":["ann","bm25"],"fusion":"rrf"},span_name="fuse"))
    return L

# 1 completed
L = healthy_prefix("r-completed")
L.append(line("r-completed",7,ts(0,0,310000),"run.end",detail="20 results",dur=310.0,span_name="retrieve"))
write("completed", L)

def failed(name, run, upto, kind, code, detail, res=None, wrap_code=None, wrap_detail=None, end=True, m=1):
    L = healthy_prefix(run, upto, m)
    seq = len(L)+1
    L.append(line(run,seq,ts(m,1,0),kind,status="failed",code=code,detail=detail,dur=1000.0 if code else 20.0,res=res))
    seq+=1
    L.append(line(run,seq,ts(m,1,5000),"retrieval.error",status="failed",code=wrap_code if wrap_code is not None else code,detail=wrap_detail or ("retrieval failed: "+(detail or code or "")),span_name="retrieve"))
    seq+=1
    if end:
        L.append(line(run,seq,ts(m,1,6000),"run.end",status="failed",detail="run failed",span_name="retrieve"))
    write(name, L)

failed("failed_embed_oom","r-embed-oom","start","embed.vllm","oom","CUDA out of memory. Tried to allocate 2.00 GiB",res={"model":"BAAI/bge-large-en-v1.5"})
failed("failed_embed_http503","r-embed-503","start","embed.vllm","http_503","vLLM returned 503 Service Unavailable",res={"model":"BAAI/bge-large-en-v1.5","endpoint":"http://vllm:8000"})
failed("failed_ann_index_not_found","r-ann-missing","embed","ann.faiss.search","index_not_found","faiss: could not open /data/index/code.faiss for reading: No such file or directory",res={"index_path":"/data/index/code.faiss","index_version":"v4"})
failed("failed_ann_dimension_mismatch","r-ann-dim","embed","ann.faiss.search","","query dimension 768 does not match index dimension 1024 (dimension mismatch)",res={"index_path":"/data/index/code.faiss","index_version":"v3"},wrap_code="retrieval_failed",wrap_detail="retrieval failed in ann stage")
failed("failed_hydrate_missing_table","r-hydrate-table","ann","hydrate.duckdb","","Catalog Error: Table with name chunks does not exist!",res={"table":"chunks","db":"/data/code.duckdb"})
failed("failed_hydrate_locked","r-hydrate-lock","ann","hydrate.duckdb","locked",'IO Error: Could not set lock on file "/data/code.duckdb": Conflicting lock is held',res={"db":"/data/code.duckdb"})
failed("failed_git_blame_missing_path","r-git-path","hydrate","git.blame","path_not_found","fatal: no such path 'src/retry/policy.py' in HEAD",res={"repo":"github.com/acme/api","path":"src/retry/policy.py"})
failed("failed_hybrid_empty_channel","r-hybrid-empty","git","retrieval.hybrid","empty_channel","channel bm25 returned no hits; fusion needs both channels",res={"index_version":"v3"})
failed("failed_unknown_code","r-unknown","hydrate","git.blame","weird_backend_state","something odd happened",res={"repo":"github.com/acme/api"})
# timeout: deadline exceeded at embed, wrapper says timeout
failed("timeout_embed_deadline","r-embed-timeout","start","embed.vllm","deadline_exceeded","context deadline exceeded (Client.Timeout exceeded while awaiting headers)",res={"model":"BAAI/bge-large-en-v1.5"},wrap_code="timeout")
failed("timeout_ann_504","r-ann-504","embed","ann.faiss.search","","upstream returned 504 Gateway Timeout",res={"index_version":"v3"})
# failed without run.end (process died after logging the error)
failed("failed_no_run_end","r-no-end","ann","hydrate.duckdb","table_not_found","no such table: chunks",end=False)

# cancelled
run="r-cancelled"
L = healthy_prefix(run,"embed",2)
L.append(line(run,3,ts(2,0,500000),"ann.faiss.search",status="cancelled",code="cancelled",detail="client disconnected",res={"index_version":"v3"}))
L.append(line(run,4,ts(2,0,510000),"run.end",status="cancelled",detail="request cancelled by client"))
write("cancelled", L)

# stalled: last event 09:03:00, now is 10:10:00 in tests
run="r-stalled"
L = healthy_prefix(run,"ann",3)
write("stalled", L)

# in progress: last event at 10:09:40 (now 10:10:00)
run="r-inprogress"
L = [l.replace("2026-11-25T09:09:","2026-11-25T10:09:") for l in healthy_prefix(run,"ann",9)]
L = [l.replace("T10:09:00","T10:09:40") for l in L]
write("in_progress", L)

# torn last line + a garbage line in the middle
run="r-torn"
L = healthy_prefix(run,"hydrate",4)
L.insert(2, '{"v":1,"run_id":"r-torn","seq":')  # garbage complete line
frag = line(run,5,ts(4,0,260000),"git.blame",dur=71.0)[:57]
write("torn_last_line", L, tail=frag)

# out of order timestamps: wrapper logged with an earlier clock than the root cause (clock skew between services)
run="r-ooo"
L = []
L.append(line(run,1,ts(5,0,0),"run.start",service="gateway"))
L.append(line(run,2,ts(5,0,400000),"ann.faiss.search",dur=9.0,sizes={"hits":10},service="retriever"))
L.append(line(run,3,ts(5,0,100000),"embed.vllm",dur=80.0,sizes={"vectors":1},service="embedder"))
L.append(line(run,4,ts(5,0,350000),"retrieval.error",status="failed",code="timeout",detail="hydration did not finish in time",service="gateway"))
L.append(line(run,5,ts(5,0,600000),"hydrate.duckdb",status="failed",code="timeout",detail="query exceeded 250ms",dur=250.0,service="retriever"))
L.append(line(run,6,ts(5,0,610000),"run.end",status="failed",service="gateway"))
write("out_of_order", L)

# recovered failure then a different root cause
run="r-recovered"
L = healthy_prefix(run,"start",6)
L.append(line(run,2,ts(6,0,100000),"embed.vllm",status="failed",code="http_503",detail="vLLM returned 503",dur=5.0))
L.append(line(run,3,ts(6,0,300000),"embed.vllm",dur=90.0,sizes={"vectors":1},attrs={"attempt":2}))
L.append(line(run,4,ts(6,0,400000),"ann.faiss.search",dur=10.0,sizes={"hits":50}))
L.append(line(run,5,ts(6,0,500000),"hydrate.duckdb",status="failed",code="locked",detail="database is locked"))
L.append(line(run,6,ts(6,0,510000),"retrieval.error",status="failed",code="locked",detail="hydrate failed"))
L.append(line(run,7,ts(6,0,520000),"run.end",status="failed"))
write("recovered_then_failed", L)

# run.end failed, no failed step
run="r-end-only"
L = healthy_prefix(run,"ann",7)
L.append(line(run,4,ts(7,0,500000),"run.end",status="failed",detail="worker exited with status 137"))
write("run_end_failed_no_step", L)

# completed despite a recovered failure
run="r-completed-retry"
L = healthy_prefix(run,"start",8)
L.append(line(run,2,ts(8,0,100000),"embed.vllm",status="failed",code="timeout",detail="timed out after 5s",dur=5000.0))
L.append(line(run,3,ts(8,0,300000),"embed.vllm",dur=90.0,sizes={"vectors":1}))
L.append(line(run,4,ts(8,0,400000),"run.end"))
write("completed_after_retry", L)
