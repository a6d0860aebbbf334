-- centralmsp: the Athena database for the inventory tables (run first).
CREATE DATABASE IF NOT EXISTS centralmsp
COMMENT 'centralmsp: MSP tenant inventory collected from HPE Aruba Networking Central and GreenLake';
