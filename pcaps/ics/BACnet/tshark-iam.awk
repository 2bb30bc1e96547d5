# tshark -V text of I-Am frames -> frame, routed, instance, max_apdu, segmentation, vendor id, vendor name
function flush() { if (f != "" && inst != "") print f "\t" routed "\t" inst "\t" maxapdu "\t" seg "\t" vid "\t" vname; inst=""; routed=0; maxapdu=""; seg=""; vid=""; vname="" }
BEGIN { OFS="\t"; print "frame\trouted\tdevice_instance\tmax_apdu\tsegmentation\tvendor_id\tvendor_name" }
/^Frame [0-9]+:/ { flush(); f=$2; sub(":", "", f) }
/Source specifier: SNET, SLEN and SADR present/ { routed=1 }
/Function: Forwarded-NPDU/ { routed=1 }
/^    ObjectIdentifier: device, / { inst=$NF }
/^    Maximum ADPU Length Accepted: / { maxapdu=$NF }
/^    Segmentation Supported: / { seg=$(NF-1) }
/^    Vendor ID: / { s=$0; sub(/^    Vendor ID: /, "", s); vid=s; sub(/.*\(/, "", vid); sub(/\)$/, "", vid); vname=s; sub(/ \([0-9]+\)$/, "", vname) }
END { flush() }
