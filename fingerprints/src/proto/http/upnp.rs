//! A UPnP device description (UPnP Device Architecture 1.0 §2.3): the root
//! device's names, read with quick-xml, bounded.

use quick_xml::events::Event;

use crate::proto::Finding;

/// XML events read from one document.
const MAX_EVENTS: usize = 20_000;
/// Bytes kept of one value.
const MAX_VALUE: usize = 256;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Device {
    pub friendly_name: Option<String>,
    pub manufacturer: Option<String>,
    pub model_name: Option<String>,
    pub model_number: Option<String>,
    pub model_description: Option<String>,
    pub serial_number: Option<String>,
    pub device_type: Option<String>,
    pub udn: Option<String>,
}

impl Device {
    fn slot(&mut self, element: &str) -> Option<&mut Option<String>> {
        Some(match element {
            "friendlyName" => &mut self.friendly_name,
            "manufacturer" => &mut self.manufacturer,
            "modelName" => &mut self.model_name,
            "modelNumber" => &mut self.model_number,
            "modelDescription" => &mut self.model_description,
            "serialNumber" => &mut self.serial_number,
            "deviceType" => &mut self.device_type,
            "UDN" => &mut self.udn,
            _ => return None,
        })
    }

    /// As `upnp.*` fields of an http finding.
    pub fn set_into(self, f: &mut Finding) {
        f.set("upnp.friendly_name", self.friendly_name);
        f.set("upnp.manufacturer", self.manufacturer);
        f.set("upnp.model_name", self.model_name);
        f.set("upnp.model_number", self.model_number);
        f.set("upnp.model_description", self.model_description);
        f.set("upnp.serial_number", self.serial_number);
        f.set("upnp.device_type", self.device_type);
        f.set("upnp.udn", self.udn);
    }
}

/// The root device of a description (the first `<device>`; embedded
/// devices' values never override it). `None` when the body is not one.
pub fn parse(body: &[u8]) -> Option<Device> {
    let text = String::from_utf8_lossy(body);
    if !text.contains("urn:schemas-upnp-org:device-1-0") {
        return None;
    }
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut device = Device::default();
    // Depth inside the first <device>; elements below a nested <device>
    // (embedded devices, deviceList) are skipped.
    let mut in_device = false;
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    let mut value = String::new();
    for _ in 0..MAX_EVENTS {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_string();
                if !in_device {
                    if name == "device" {
                        in_device = true;
                        depth = 0;
                    }
                    continue;
                }
                depth += 1;
                current = (depth == 1).then_some(name);
                value.clear();
            }
            Ok(Event::End(_)) => {
                if !in_device {
                    continue;
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 {
                    if let Some(name) = current.take() {
                        let v = value.trim();
                        if let Some(slot) = device.slot(&name) {
                            if slot.is_none() && !v.is_empty() {
                                *slot = Some(v.to_string());
                            }
                        }
                    }
                }
                depth -= 1;
            }
            Ok(Event::Text(t)) if current.is_some() => push(&mut value, &t),
            Ok(Event::CData(t)) if current.is_some() => {
                push(&mut value, &t);
            }
            Ok(Event::GeneralRef(r)) if current.is_some() => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => match &*r {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                };
                if let Some(c) = c {
                    push(&mut value, c.encode_utf8(&mut [0; 4]));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    (device != Device::default()).then_some(device)
}

fn push(value: &mut String, s: &str) {
    for c in s.chars() {
        if value.len() >= MAX_VALUE {
            return;
        }
        value.push(c);
    }
}
